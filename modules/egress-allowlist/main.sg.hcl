security_group "this" {
  name        = var.name
  description = var.description
  tags        = var.tags

  dynamic "egress" {
    for_each = var.destinations
    content {
      action      = "ACCEPT"
      protocol    = upper(lookup(egress.value, "protocol", "TCP"))
      port        = contains(["TCP", "UDP"], upper(lookup(egress.value, "protocol", "TCP"))) ? lookup(egress.value, "port", "ALL") : null
      cidr_block  = egress.value.cidr
      description = lookup(egress.value, "description", "allowed destination")
    }
  }

  egress {
    action      = "DROP"
    protocol    = "ALL"
    cidr_block  = "0.0.0.0/0"
    description = "drop all other egress"
  }
}
