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

variable "kms_key_arn" {
  description = "ARN of the customer-managed KMS key that encrypts the tables at rest."
  type        = string
}

variable "deletion_protection" {
  description = "Refuse DeleteTable on every table (on in staging and prod)."
  type        = bool
  default     = true
}

variable "decision_log_writer_arns" {
  description = "Role ARNs that may record decisions in the decision log (the governance function's); the table's resource policy denies PutItem to every other principal."
  type        = list(string)

  validation {
    condition     = length(var.decision_log_writer_arns) > 0
    error_message = "decision_log_writer_arns needs the governance function's role."
  }
}

variable "decision_log_reader_arns" {
  description = "Role ARNs of the operators who may Query the decision log (agentctl's policy replay and coverage); the table's resource policy denies Query to every other principal, and to everyone when empty."
  type        = list(string)
  default     = []
}
