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
  default     = ["81.69.102.0/24", "106.55.203.0/24", "101.33.121.0/24", "101.32.250.0/24"]
  description = "IPv4 addresses or CIDR blocks allowed to connect on TCP 3389; the default is the console's WebRDP proxy ranges."

  validation {
    # replace() with a /regex/ stands in for can(cidrhost(...)), which the evaluator lacks:
    # the whole string must match an IPv4 address with an optional /0-/32 prefix.
    condition     = length([for c in var.allowed_cidrs : c if c == "" || replace(c, "/^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])[.]){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(/([0-9]|[12][0-9]|3[0-2]))?$/", "") != ""]) == 0
    error_message = "allowed_cidrs must hold IPv4 addresses or CIDR blocks such as 203.0.113.0/24."
  }

  validation {
    condition     = length(var.allowed_cidrs) > 0
    error_message = "allowed_cidrs must name at least one address or CIDR block."
  }
}

variable "address_template_ids" {
  type        = list(string)
  default     = []
  description = "Address templates (ipm-…, e.g. address_template.office.id) allowed on TCP 3389; when given, they replace allowed_cidrs."
}
