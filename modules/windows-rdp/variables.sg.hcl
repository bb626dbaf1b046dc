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
  default     = "RDP (TCP 3389) to Windows instances from the allowed ranges"
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
  default     = [
    "81.69.102.0/24",
    "106.55.203.0/24",
    "101.33.121.0/24",
    "101.32.250.0/24",
  ]
  description = "IPv4 addresses or CIDR blocks allowed to connect on TCP 3389; the default is the console's WebRDP proxy ranges."

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
