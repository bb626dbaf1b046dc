sgplan {
  region = "ap-guangzhou"
  stack  = "example-egress-denylist"
  cloud  = "file:./live.json"
}

module "deny" {
  source       = "../../modules/egress-denylist"
  name         = "example-egress-denylist"
  denied_cidrs = ["198.51.100.66"]
}

binding "deny" {
  instance_ids    = ["ins-den00001"]
  security_groups = [module.deny.id]
}

output "group_id" {
  value = module.deny.id
}
