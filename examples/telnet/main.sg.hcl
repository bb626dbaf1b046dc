sgplan {
  region = "ap-guangzhou"
  stack  = "example-telnet"
  cloud  = "file:./live.json"
}

module "telnet" {
  source        = "../../modules/telnet"
  name          = "example-telnet"
  allowed_cidrs = ["10.0.0.0/16"]
}

binding "telnet" {
  instance_ids    = ["ins-tel00001"]
  security_groups = [module.telnet.id]
}

output "group_id" {
  value = module.telnet.id
}
