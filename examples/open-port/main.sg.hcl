sgplan {
  region = "ap-guangzhou"
  stack  = "example-open-port"
  cloud  = "file:./live.json"
}

module "app_port" {
  source = "../../modules/open-port"
  name   = "example-open-port"
  port   = "1101"
}

binding "app_port" {
  instance_ids    = ["ins-opn00001"]
  security_groups = [module.app_port.id]
}

output "group_id" {
  value = module.app_port.id
}
