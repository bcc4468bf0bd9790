variable "project_name" {
  description = "Project name; prefix of every resource name (PROJECT_NAME of the naming contract)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.project_name))
    error_message = "project_name must be 3-32 characters of lowercase letters, digits and '-', starting with a letter."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC; a /16, carved into /24 subnets (public, private and Axon runtime per AZ)."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr)) && endswith(var.vpc_cidr, "/16")
    error_message = "vpc_cidr must be a valid IPv4 /16 CIDR block."
  }
}

variable "az_count" {
  description = "Number of Availability Zones to spread the subnets over (2 or 3) when availability_zones is empty."
  type        = number
  default     = 3

  validation {
    condition     = contains([2, 3], var.az_count)
    error_message = "az_count must be 2 or 3."
  }
}

variable "availability_zones" {
  description = "Availability Zone names to use; empty means the region's zones a, b (and c when az_count is 3)."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.availability_zones) == 0 || contains([2, 3], length(var.availability_zones))
    error_message = "availability_zones must be empty or name 2 or 3 zones."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway shared by every private subnet (cheaper, not AZ-independent) instead of one per AZ."
  type        = bool
  default     = false
}

variable "client_cidr_blocks" {
  description = "CIDR blocks allowed to reach the internal load balancer (the VPC itself is always allowed)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for cidr in var.client_cidr_blocks : can(cidrnetmask(cidr)) && cidr != "0.0.0.0/0"])
    error_message = "client_cidr_blocks must be valid IPv4 CIDR blocks, and not 0.0.0.0/0."
  }
}

variable "flow_log_retention_days" {
  description = "Retention of the VPC flow log group, in days."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_days)
    error_message = "flow_log_retention_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "logs_kms_key_arn" {
  description = "ARN of the customer-managed KMS key that encrypts the flow log group."
  type        = string
}

variable "permissions_boundary_arn" {
  description = "ARN of the IAM policy set as permissions boundary on the flow-log role."
  type        = string
}

variable "extra_interface_endpoints" {
  description = "Further interface endpoint services (short names such as \"ecs\" or \"ssm\") beyond the ones the workloads need."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for service in var.extra_interface_endpoints : can(regex("^[a-z0-9][a-z0-9.-]*$", service))])
    error_message = "extra_interface_endpoints must be short service names such as \"ecs\" or \"ecs-agent\"."
  }
}
