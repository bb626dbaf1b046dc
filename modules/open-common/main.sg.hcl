security_group "this" {
  name        = var.name
  description = var.description
  tags        = var.tags

  ingress {
    action      = "ACCEPT"
    protocol    = "TCP"
    port        = "22"
    cidr_block  = "0.0.0.0/0"
    description = "SSH"
  }

  ingress {
    action      = "ACCEPT"
    protocol    = "TCP"
    port        = "80"
    cidr_block  = "0.0.0.0/0"
    description = "HTTP"
  }

  ingress {
    action      = "ACCEPT"
    protocol    = "TCP"
    port        = "443"
    cidr_block  = "0.0.0.0/0"
    description = "HTTPS"
  }

  ingress {
    action      = "ACCEPT"
    protocol    = "TCP"
    port        = "3389"
    cidr_block  = "0.0.0.0/0"
    description = "RDP"
  }

  ingress {
    action      = "ACCEPT"
    protocol    = "ICMP"
    cidr_block  = "0.0.0.0/0"
    description = "ping"
  }

  egress {
    action      = "ACCEPT"
    protocol    = "ALL"
    cidr_block  = "0.0.0.0/0"
    description = "all outbound"
  }
}
