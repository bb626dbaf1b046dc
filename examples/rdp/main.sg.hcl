sgplan {
  region = "ap-guangzhou"
  stack  = "example-rdp"
  cloud  = "file:./live.json"
}

module "rdp" {
  source = "../../modules/windows-rdp"
  name   = "example-rdp"
}

binding "rdp" {
  instance_ids    = ["ins-rdp00001"]
  security_groups = [module.rdp.id]
}

output "group_id" {
  value = module.rdp.id
}
