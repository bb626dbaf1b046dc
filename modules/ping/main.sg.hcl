security_group "this" {
  name        = var.name
  description = var.description
  tags        = var.tags

  dynamic "ingress" {
    for_each = var.allowed_cidrs
    content {
      action      = "ACCEPT"
      protocol    = "ICMP"
      cidr_block  = ingress.value
      description = "ping"
    }
  }

  dynamic "ingress" {
    for_each = var.allowed_ipv6_cidrs
    content {
      action          = "ACCEPT"
      protocol        = "ICMPv6"
      ipv6_cidr_block = ingress.value
      description     = "ping (IPv6)"
    }
  }
}
