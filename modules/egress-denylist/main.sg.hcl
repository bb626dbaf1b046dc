security_group "this" {
  name        = var.name
  description = var.description
  tags        = var.tags

  egress {
    action      = "DROP"
    protocol    = "ALL"
    cidr_blocks = var.denied_cidrs
    description = "denied destination"
  }

  dynamic "egress" {
    for_each = var.allow_other_egress ? ["0.0.0.0/0"] : []
    content {
      action      = "ACCEPT"
      protocol    = "ALL"
      cidr_block  = egress.value
      description = "all other egress"
    }
  }
}
