sgplan {
  region = "ap-guangzhou"
  stack  = "example-ssh"
  cloud  = "file:./live.json"
}

module "ssh" {
  source        = "../../modules/linux-ssh"
  name          = "example-ssh"
  allowed_cidrs = ["203.0.113.0/24", "198.51.100.7"]
}

binding "ssh" {
  instance_ids    = ["ins-ssh00001"]
  security_groups = [module.ssh.id]
}

output "group_id" {
  value = module.ssh.id
}
