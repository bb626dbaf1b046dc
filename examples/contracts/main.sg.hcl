# Reachability contracts: what must and must not be reachable, proven on every plan.
sgplan {
  region = "ap-guangzhou"
  stack  = "example-contracts"
  cloud  = "file:./live.json"
}

variable "admin_cidrs" {
  type        = list(string)
  default     = ["203.0.113.0/24"]
  description = "Where administrators connect from over SSH."
}

# 1st: SSH from the admin networks.
module "admin" {
  source        = "../../modules/linux-ssh"
  name          = "shop-admin"
  allowed_cidrs = var.admin_cidrs
}

# 2nd: the public web tier, TCP 80 and 443 from everyone.
module "web" {
  source = "../../modules/web"
  name   = "shop-web"
}

binding "shop" {
  instance_ids    = ["ins-ctr00001"]
  security_groups = [module.admin.id, module.web.id]
}

# No instance of this configuration takes SSH from any public address.
expect "no_public_ssh" {
  direction   = "ingress"
  peer        = ["internet"]
  protocol    = "TCP"
  ports       = "22"
  decision    = "deny"
  description = "SSH only from the admin networks"
}

# The admin networks keep their SSH access.
expect "admins_reach_ssh" {
  instances = binding.shop.instance_ids
  direction = "ingress"
  peer      = var.admin_cidrs
  protocol  = "TCP"
  ports     = "22"
  decision  = "allow"
}

# The shop is reachable over HTTP and HTTPS from every IPv4 address.
expect "shop_is_public" {
  instances = binding.shop.instance_ids
  direction = "ingress"
  peer      = ["0.0.0.0/0"]
  protocol  = "TCP"
  ports     = "80,443"
  decision  = "allow"
}

# Databases and caches never face the internet, on any port of these.
expect "no_public_databases" {
  direction = "ingress"
  peer      = ["internet"]
  protocol  = "TCP"
  ports     = "1433,1521,3306,5432,6379,27017"
  decision  = "deny"
}

# Nothing leaves the shop for the internet's mail servers.
expect "no_outbound_smtp" {
  direction = "egress"
  peer      = ["internet"]
  protocol  = "TCP"
  ports     = "25"
  decision  = "deny"
}
