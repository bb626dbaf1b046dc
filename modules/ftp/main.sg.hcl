security_group "this" {
  name        = var.name
  description = var.description
  tags        = var.tags

  ingress {
    action      = "ACCEPT"
    protocol    = "TCP"
    port        = "20-21"
    cidr_blocks = var.allowed_cidrs
    description = "FTP data and control"
  }
}
