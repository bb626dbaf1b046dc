sgplan {
  region = "ap-guangzhou"
  stack  = "example-ftp"
  cloud  = "file:./live.json"
}

module "ftp" {
  source = "sgplan/ftp"
  name   = "example-ftp"
}

binding "ftp" {
  instance_ids    = ["ins-ftp00001"]
  security_groups = [module.ftp.id]
}

output "group_id" {
  value = module.ftp.id
}
