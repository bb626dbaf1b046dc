security_group "this" {
  name        = var.name
  description = var.description
  tags        = var.tags

  ingress {
    action      = "ACCEPT"
    protocol    = "TCP"
    port        = "80"
    cidr_blocks = var.allowed_cidrs
    description = "HTTP"
  }

  ingress {
    action      = "ACCEPT"
    protocol    = "TCP"
    port        = "443"
    cidr_blocks = var.allowed_cidrs
    description = "HTTPS"
  }
}
