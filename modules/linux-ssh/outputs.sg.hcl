output "id" {
  description = "Id of the security group (known after apply when sgplan creates it)."
  value       = security_group.this.id
}

output "name" {
  description = "Name of the security group."
  value       = security_group.this.name
}
