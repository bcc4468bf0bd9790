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

variable "kms_key_arns" {
  description = "ARN of the customer-managed KMS key that encrypts each service's repository."
  type = object({
    axon  = string
    orbit = string
  })
}

variable "keep_tagged_images" {
  description = "Number of tagged images (one per deployed commit) kept per repository, for rollbacks."
  type        = number
  default     = 50

  validation {
    condition     = var.keep_tagged_images >= 5
    error_message = "keep_tagged_images must be at least 5 so that recent rollbacks stay possible."
  }
}

variable "force_delete" {
  description = "Allow destroying a repository that still holds images (dev only)."
  type        = bool
  default     = false
}
