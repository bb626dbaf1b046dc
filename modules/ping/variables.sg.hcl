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
  default     = "ICMP echo (ping) from the allowed ranges"
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
  description = "IPv4 addresses or CIDR blocks allowed to ping (ICMP); may be empty."

  validation {
    # replace() with a /regex/ stands in for can(cidrhost(...)), which the evaluator lacks:
    # the whole string must match an IPv4 address with an optional /0-/32 prefix.
    condition     = length([for c in var.allowed_cidrs : c if c == "" || replace(c, "/^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])[.]){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(/([0-9]|[12][0-9]|3[0-2]))?$/", "") != ""]) == 0
    error_message = "allowed_cidrs must hold IPv4 addresses or CIDR blocks such as 203.0.113.0/24."
  }
}

variable "allowed_ipv6_cidrs" {
  type        = list(string)
  default     = []
  description = "IPv6 addresses or CIDR blocks allowed to ping (ICMPv6); empty by default."

  validation {
    # A coarse IPv6 shape (hex digits and colons, optional /0-/128); the configuration
    # validator checks the exact syntax of every ipv6_cidr_block.
    condition     = length([for c in var.allowed_ipv6_cidrs : c if c == "" || replace(c, "/^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(/([0-9]|[1-9][0-9]|1[01][0-9]|12[0-8]))?$/", "") != ""]) == 0
    error_message = "allowed_ipv6_cidrs must hold IPv6 addresses or CIDR blocks such as 2001:db8::/32."
  }
}
