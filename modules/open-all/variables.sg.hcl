variable "name" {
  type        = string
  description = "Name of the security group (1-60 characters)."

  validation {
    condition     = length(var.name) >= 1 && length(var.name) <= 60
    error_message = "name must be 1 to 60 characters long."
  }
}

variable "description" {
  type        = string
  default     = "Console preset: all ports open inbound and outbound"
  description = "Description of the security group (at most 100 characters)."

  validation {
    condition     = length(var.description) <= 100
    error_message = "description must be at most 100 characters long."
  }
}

variable "tags" {
  type        = map(string)
  default     = {}
  description = "Tags for the security group; sgplan adds its own sgplan-* tags."
}
