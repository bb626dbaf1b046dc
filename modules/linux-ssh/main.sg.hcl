security_group "this" {
  name        = var.name
  description = var.description
  tags        = var.tags

  ingress {
    action      = "ACCEPT"
    protocol    = "TCP"
    port        = "22"
    cidr_blocks = length(var.address_template_ids) == 0 ? var.allowed_cidrs : []
    description = "SSH"
  }

  # Address templates instead of the CIDR list (issue 17): one rule per template, in order.
  dynamic "ingress" {
    for_each = var.address_template_ids
    content {
      action              = "ACCEPT"
      protocol            = "TCP"
      port                = "22"
      address_template_id = ingress.value
      description         = "SSH"
    }
  }
}
