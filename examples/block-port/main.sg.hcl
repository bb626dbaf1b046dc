sgplan {
  region = "ap-guangzhou"
  stack  = "example-block-port"
  cloud  = "file:./live.json"
}

# The application opens a whole range of ports to everyone ...
module "app_ports" {
  source = "../../modules/open-port"
  name   = "example-block-port-app"
  port   = "1100-1200"
}

# ... except TCP 1102, which must stay closed. The DROP only wins because its group is bound
# ahead of the open range: groups are matched in binding order, first match wins.
module "no_1102" {
  source = "../../modules/block-port"
  name   = "example-block-port"
  port   = "1102"
}

binding "app" {
  instance_ids    = ["ins-blk00001"]
  security_groups = [module.no_1102.id, module.app_ports.id]
}

output "group_id" {
  value = module.no_1102.id
}
