security_group "this" {
  name        = var.name
  description = var.description
  tags        = var.tags

  ingress {
    action      = "ACCEPT"
    protocol    = "TCP"
    port        = "23"
    cidr_blocks = var.allowed_cidrs
    description = "Telnet"
  }
}
