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
  default     = "One service port closed to the blocked ranges"
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

variable "port" {
  type        = string
  description = "Port to close: one port (\"1101\"), a range (\"8000-8010\") or a list (\"80,443\")."

  validation {
    # Every number in "1101", "8000-8010" or "80,443" must lie in 1-65535. Digits are
    # stripped with replace() because the evaluator has no regex() or can() (see README.md).
    condition = length([
      for n in split(",", replace(tostring(var.port), "-", ",")) : n
      if !(n != "" && replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(n, "0", ""), "1", ""), "2", ""), "3", ""), "4", ""), "5", ""), "6", ""), "7", ""), "8", ""), "9", "") == "" ? tonumber(n) >= 1 && tonumber(n) <= 65535 : false)
    ]) == 0
    error_message = "port must be a port (1101), a range (8000-8010) or a list (80,443) within 1-65535."
  }
}

variable "protocol" {
  type        = string
  default     = "TCP"
  description = "TCP or UDP."

  validation {
    condition     = contains(["TCP", "UDP"], upper(var.protocol))
    error_message = "protocol must be TCP or UDP (only they carry a port)."
  }
}

variable "blocked_cidrs" {
  type        = list(string)
  default     = ["0.0.0.0/0"]
  description = "IPv4 addresses or CIDR blocks whose traffic to the port is dropped, in rule order."

  validation {
    # An IPv4 address, or an address with a /0-/32 prefix, octets 0-255. Written with split()
    # and contains() because the evaluator has no can(cidrhost()) (see README.md).
    condition = length([
      for c in var.blocked_cidrs : c
      if !(length(split("/", c)) <= 2
        && length(split(".", split("/", c)[0])) == 4
        && length([for o in split(".", split("/", c)[0]) : o if !contains([for i in range(256) : tostring(i)], o)]) == 0
      && (length(split("/", c)) == 1 || contains([for i in range(33) : tostring(i)], element(split("/", c), 1))))
    ]) == 0
    error_message = "blocked_cidrs must hold IPv4 addresses or CIDR blocks such as 203.0.113.0/24."
  }

  validation {
    condition     = length(var.blocked_cidrs) > 0
    error_message = "blocked_cidrs must name at least one address or CIDR block."
  }
}
