variable "project_name" {
  description = "Project name; prefix of every resource name (PROJECT_NAME of the naming contract)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.project_name))
    error_message = "project_name must be 3-32 characters of lowercase letters, digits and '-', starting with a letter."
  }

  validation {
    # <project>/pub, the pull-through cache's repository prefix, may have 30 characters at most.
    condition     = length(var.project_name) <= 26
    error_message = "project_name must be at most 26 characters for the ECR module: <project>/pub names the pull-through cache (30 characters at most)."
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

variable "adot_collector_image" {
  description = "ADOT collector image on ECR Public, pinned by tag (public.ecr.aws/aws-observability/aws-otel-collector:<tag>); the tasks pull it through this registry's pull-through cache."
  type        = string
  default     = "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.3"

  validation {
    condition     = can(regex("^public\\.ecr\\.aws/[a-z0-9][a-z0-9._/-]*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.adot_collector_image)) && !can(regex(":latest$", var.adot_collector_image))
    error_message = "adot_collector_image must be an ECR Public image (public.ecr.aws/...) pinned by a tag other than latest."
  }
}
