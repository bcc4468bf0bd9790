variable "project_name" {
  description = "Project name; prefix of every resource name (PROJECT_NAME of the naming contract)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.project_name))
    error_message = "project_name must be 3-32 characters of lowercase letters, digits and '-', starting with a letter."
  }
}

variable "environment" {
  description = "Deployment environment; the GitHub environment of that name may assume the deploy role."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}

variable "github_repository" {
  description = "GitHub repository (\"owner/name\") whose workflows may assume the deploy role; null creates no OIDC provider and no deploy role."
  type        = string
  default     = null

  validation {
    condition     = var.github_repository == null || can(regex("^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9_.-]{1,100}$", var.github_repository))
    error_message = "github_repository must be \"owner/name\" (GitHub owner and repository names, no wildcards)."
  }
}

variable "github_branch" {
  description = "Branch whose workflow runs may assume the deploy role (besides jobs bound to the GitHub environment named like var.environment)."
  type        = string
  default     = "main"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/-]+$", var.github_branch)) && !strcontains(var.github_branch, "*")
    error_message = "github_branch must be a branch name without wildcards."
  }
}

variable "existing_oidc_provider_arn" {
  description = "ARN of the account's GitHub OIDC provider if it already exists (one per account); null creates it."
  type        = string
  default     = null

  validation {
    condition     = var.existing_oidc_provider_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com$", var.existing_oidc_provider_arn))
    error_message = "existing_oidc_provider_arn must be the ARN of the token.actions.githubusercontent.com OIDC provider, or null."
  }
}

variable "state_bucket_name" {
  description = "S3 bucket holding this environment's Terraform state (the backend's bucket)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.state_bucket_name))
    error_message = "state_bucket_name must be a valid S3 bucket name."
  }
}

variable "state_key" {
  description = "Key of this environment's state object in the state bucket (the backend's key)."
  type        = string
}

variable "lambda_layer_arns" {
  description = "Lambda layer version ARNs the project's functions use (the ADOT collector); the deploy role may read any version of these layers to attach them."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.lambda_layer_arns : can(regex("^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:layer:[A-Za-z0-9_-]+:[0-9]+$", arn))])
    error_message = "lambda_layer_arns must be Lambda layer version ARNs."
  }
}
