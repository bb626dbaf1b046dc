# Quickstart: two groups on two web servers, planned against the embedded fake cloud.
sgplan {
  region = "ap-guangzhou"
  stack  = "quickstart"
  cloud  = "file:./live.json"
}

variable "office_cidrs" {
  type        = list(string)
  description = "Networks allowed to log in."
  default     = ["203.0.113.0/24", "198.51.100.0/24"]
}

locals {
  web_ports = "80,443"
}

# Matched first: nobody but the office reaches SSH, whatever later groups allow.
security_group "admin" {
  name        = "quickstart-admin"
  description = "SSH from the office only"

  ingress {
    action      = "ACCEPT"
    protocol    = "TCP"
    port        = "22"
    cidr_blocks = var.office_cidrs
    description = "SSH from the office"
  }
  ingress {
    action      = "DROP"
    protocol    = "TCP"
    port        = "22"
    cidr_block  = "0.0.0.0/0"
    description = "SSH from anywhere else"
  }
}

security_group "web" {
  name        = "quickstart-web"
  description = "public web tier"
  tags        = { team = "web" }

  ingress {
    action      = "ACCEPT"
    protocol    = "TCP"
    port        = local.web_ports
    cidr_block  = "0.0.0.0/0"
    description = "HTTP and HTTPS"
  }
  ingress {
    action            = "ACCEPT"
    protocol          = "TCP"
    port              = "8443"
    security_group_id = security_group.admin.id
    description       = "the admin console, from the admin hosts"
  }
  egress {
    action      = "ACCEPT"
    protocol    = "ALL"
    cidr_block  = "0.0.0.0/0"
    description = "all outbound"
  }
}

binding "web_servers" {
  instance_ids    = ["ins-web00001", "ins-web00002"]
  security_groups = [security_group.admin.id, security_group.web.id]
}

output "web_id" {
  value = security_group.web.id
}

# A reachability contract, proven on every plan: no web server takes SSH from the internet.
expect "no_public_ssh" {
  instances   = binding.web_servers.instance_ids
  direction   = "ingress"
  peer        = ["internet"]
  protocol    = "TCP"
  ports       = "22"
  decision    = "deny"
  description = "SSH only from the office"
}
