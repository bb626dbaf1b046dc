sgplan {
  region = "ap-guangzhou"
  stack  = "example-web"
  cloud  = "file:./live.json"
}

module "web" {
  source = "../../modules/web"
  name   = "example-web"
}

binding "web" {
  instance_ids    = ["ins-web00001"]
  security_groups = [module.web.id]
}

output "group_id" {
  value = module.web.id
}
