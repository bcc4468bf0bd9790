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

variable "kms_deletion_window_days" {
  description = "Days a KMS key waits between its scheduled deletion and its destruction."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

variable "secret_recovery_window_days" {
  description = "Days a deleted secret can still be restored (0 deletes at once, which dev uses to be torn down and rebuilt)."
  type        = number
  default     = 30

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or between 7 and 30."
  }
}

variable "secret_access" {
  description = "By secret short name (a key of the secrets this module creates): the role ARNs that may read it (GetSecretValue; empty leaves reads to IAM) and write it (PutSecretValue, UpdateSecretVersionStage); every other principal is denied by the secret's resource policy, which also denies DeleteSecret to everyone."
  type = map(object({
    readers = optional(list(string), [])
    writers = list(string)
  }))

  validation {
    condition     = alltrue([for name, access in var.secret_access : contains(["orbit-signing-key", "governance-receipt-key", "governance-receipt-public-key"], name) && length(access.writers) > 0])
    error_message = "secret_access keys must be secrets of this module, each with at least one writer."
  }
}
