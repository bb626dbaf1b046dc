security_group "this" {
  name        = var.name
  description = var.description
  tags        = var.tags

  ingress {
    action      = "ACCEPT"
    protocol    = var.protocol
    port        = var.port
    cidr_blocks = var.allowed_cidrs
    description = "open service port"
  }
}
