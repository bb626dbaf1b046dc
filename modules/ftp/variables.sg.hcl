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
  default     = "FTP (TCP 20-21) from the allowed ranges"
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

variable "allowed_cidrs" {
  type        = list(string)
  default     = ["0.0.0.0/0"]
  description = "IPv4 addresses or CIDR blocks allowed to reach TCP 20-21, in rule order."

  validation {
    # An IPv4 address, or an address with a /0-/32 prefix, octets 0-255. Written with split()
    # and contains() because the evaluator has no can(cidrhost()) (see README.md).
    condition = length([
      for c in var.allowed_cidrs : c
      if !(length(split("/", c)) <= 2
        && length(split(".", split("/", c)[0])) == 4
        && length([for o in split(".", split("/", c)[0]) : o if !contains([for i in range(256) : tostring(i)], o)]) == 0
      && (length(split("/", c)) == 1 || contains([for i in range(33) : tostring(i)], element(split("/", c), 1))))
    ]) == 0
    error_message = "allowed_cidrs must hold IPv4 addresses or CIDR blocks such as 203.0.113.0/24."
  }

  validation {
    condition     = length(var.allowed_cidrs) > 0
    error_message = "allowed_cidrs must name at least one address or CIDR block."
  }
}
