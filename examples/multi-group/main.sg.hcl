sgplan {
  region = "ap-guangzhou"
  stack  = "example-multi-group"
  cloud  = "file:./live.json"
}

variable "office_cidrs" {
  type        = list(string)
  default     = ["203.0.113.0/24"]
  description = "Where administrators connect from over SSH."
}

# 1st: plain HTTP is refused before any other group can accept it (HTTPS only).
module "no_http" {
  source = "../../modules/block-port"
  name   = "app-no-plain-http"
  port   = "80"
}

# 2nd: SSH from the office only.
module "ssh" {
  source        = "../../modules/linux-ssh"
  name          = "app-ssh"
  allowed_cidrs = var.office_cidrs
}

# 3rd: the shared web group accepts TCP 80 and 443 from everyone; only 443 gets this far.
module "web" {
  source = "sgplan/web"
  name   = "app-web"
}

# 4th: outbound only to the database and the package mirror, everything else dropped.
module "egress" {
  source = "../../modules/egress-allowlist"
  name   = "app-egress"

  destinations = [
    {
      cidr        = "10.0.1.10"
      protocol    = "TCP"
      port        = "5432"
      description = "database"
    },
    {
      cidr        = "203.0.113.50"
      protocol    = "TCP"
      port        = "443"
      description = "package mirror"
    },
  ]
}

binding "app" {
  instance_ids = ["ins-app00001"]

  # The order of this list is the priority: groups are matched top to bottom, first match wins.
  security_groups = [
    module.no_http.id,
    module.ssh.id,
    module.web.id,
    module.egress.id,
  ]
}

output "group_ids" {
  value = [module.no_http.id, module.ssh.id, module.web.id, module.egress.id]
}
