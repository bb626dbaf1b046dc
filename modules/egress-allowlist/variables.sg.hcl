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
  default     = "Outbound only to the allowed destinations"
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

variable "destinations" {
  type        = list(map(string))
  description = "Allowed destinations, in rule order: maps with cidr (required), protocol (TCP, UDP, ICMP or ALL; default TCP), port (default ALL) and description."

  validation {
    condition     = length(var.destinations) > 0
    error_message = "destinations must list at least one destination (otherwise all egress is dropped)."
  }

  validation {
    condition = length([
      for d in var.destinations : d
      if !contains(keys(d), "cidr") || length([for k in keys(d) : k if !contains(["cidr", "protocol", "port", "description"], k)]) > 0
    ]) == 0
    error_message = "each destination needs a cidr and may only have cidr, protocol, port and description."
  }

  validation {
    condition = length([
      for d in var.destinations : d
      if !contains(["TCP", "UDP", "ICMP", "ALL"], upper(lookup(d, "protocol", "TCP")))
    ]) == 0
    error_message = "a destination's protocol must be TCP, UDP, ICMP or ALL."
  }

  validation {
    # replace() with a /regex/ stands in for can(cidrhost(...)), which the evaluator lacks:
    # the whole string must match an IPv4 address with an optional /0-/32 prefix.
    condition     = length([for c in [for d in var.destinations : lookup(d, "cidr", "")] : c if c == "" || replace(c, "/^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])[.]){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(/([0-9]|[12][0-9]|3[0-2]))?$/", "") != ""]) == 0
    error_message = "each destination's cidr must hold IPv4 addresses or CIDR blocks such as 203.0.113.0/24."
  }
}
