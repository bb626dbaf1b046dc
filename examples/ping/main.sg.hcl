sgplan {
  region = "ap-guangzhou"
  stack  = "example-ping"
  cloud  = "file:./live.json"
}

module "ping" {
  source             = "../../modules/ping"
  name               = "example-ping"
  allowed_ipv6_cidrs = ["::/0"]
}

binding "ping" {
  instance_ids    = ["ins-png00001"]
  security_groups = [module.ping.id]
}

output "group_id" {
  value = module.ping.id
}
