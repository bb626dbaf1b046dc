sgplan {
  region = "ap-guangzhou"
  stack  = "example-egress-allowlist"
  cloud  = "file:./live.json"
}

module "egress" {
  source = "../../modules/egress-allowlist"
  name   = "example-egress-allowlist"

  destinations = [
    {
      cidr        = "203.0.113.50"
      protocol    = "TCP"
      port        = "443"
      description = "payment API"
    },
  ]
}

binding "worker" {
  instance_ids    = ["ins-egr00001"]
  security_groups = [module.egress.id]
}

output "group_id" {
  value = module.egress.id
}
