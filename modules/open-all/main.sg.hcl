security_group "this" {
  name        = var.name
  description = var.description
  tags        = var.tags

  ingress {
    action      = "ACCEPT"
    protocol    = "ALL"
    cidr_block  = "0.0.0.0/0"
    description = "all inbound (IPv4)"
  }

  ingress {
    action          = "ACCEPT"
    protocol        = "ALL"
    ipv6_cidr_block = "::/0"
    description     = "all inbound (IPv6)"
  }

  egress {
    action      = "ACCEPT"
    protocol    = "ALL"
    cidr_block  = "0.0.0.0/0"
    description = "all outbound (IPv4)"
  }

  egress {
    action          = "ACCEPT"
    protocol        = "ALL"
    ipv6_cidr_block = "::/0"
    description     = "all outbound (IPv6)"
  }
}
