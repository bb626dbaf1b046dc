security_group "this" {
  name        = var.name
  description = var.description
  tags        = var.tags

  ingress {
    action      = "DROP"
    protocol    = var.protocol
    port        = var.port
    cidr_blocks = var.blocked_cidrs
    description = "blocked service port"
  }
}
