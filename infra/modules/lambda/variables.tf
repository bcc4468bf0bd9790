variable "project_name" {
  description = "Project name; prefix of every resource name (PROJECT_NAME of the naming contract)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.project_name))
    error_message = "project_name must be 3-32 characters of lowercase letters, digits and '-', starting with a letter."
  }
}

variable "environment" {
  description = "Deployment environment, passed to the governance function as ENVIRONMENT (part of the Cedar context)."
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

variable "lambda_zip_path" {
  description = "Path of the deployment package (governance/lambda/lambda.zip, built by agentctl deploy with scripts/build_lambda.py); it holds both handlers."
  type        = string

  validation {
    condition     = endswith(var.lambda_zip_path, ".zip")
    error_message = "lambda_zip_path must point to a .zip file."
  }
}

variable "runtime" {
  description = "Lambda runtime of both functions; the zip's compiled wheels must match it."
  type        = string
  default     = "python3.12"

  validation {
    condition     = contains(["python3.12", "python3.13"], var.runtime)
    error_message = "runtime must be python3.12 or python3.13."
  }
}

variable "architecture" {
  description = "Instruction set of both functions; the zip's compiled wheels must match it."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "governance" {
  description = "Sizing of the governance function: memory (MB), timeout (s), reserved concurrency, provisioned concurrency of the live alias (0: none), log level."
  type = object({
    memory_size             = optional(number, 512)
    timeout                 = optional(number, 10)
    reserved_concurrency    = optional(number, 50)
    provisioned_concurrency = optional(number, 0)
    log_level               = optional(string, "INFO")
  })
  default = {}

  validation {
    condition     = var.governance.reserved_concurrency >= 1 && var.governance.timeout >= 1 && var.governance.timeout <= 60
    error_message = "governance.reserved_concurrency must be at least 1 and governance.timeout between 1 and 60 seconds."
  }

  validation {
    condition     = var.governance.provisioned_concurrency >= 0 && var.governance.provisioned_concurrency <= var.governance.reserved_concurrency
    error_message = "governance.provisioned_concurrency must be between 0 and governance.reserved_concurrency."
  }

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.governance.log_level)
    error_message = "governance.log_level must be one of DEBUG, INFO, WARNING, ERROR."
  }
}

variable "vpc_id" {
  description = "ID of the VPC the functions run in."
  type        = string
}

variable "subnet_ids" {
  description = "IDs of the private subnets the functions run in."
  type        = list(string)
}

variable "vpc_endpoints_security_group_id" {
  description = "Security group of the interface VPC endpoints (the functions' only HTTPS destination besides DynamoDB)."
  type        = string
}

variable "dynamodb_prefix_list_id" {
  description = "Prefix list of the DynamoDB gateway endpoint."
  type        = string
}

variable "table_arns" {
  description = "ARNs of the project's DynamoDB tables the governance function uses."
  type = object({
    policies     = string
    rate_limits  = string
    decision_log = string
  })
}

variable "secret_arns" {
  description = "ARNs of the Terraform-managed secrets."
  type = object({
    orbit_signing_key   = string
    receipt_private_key = string
    receipt_public_key  = string
  })
}

variable "kms_key_arns" {
  description = "ARNs of the customer-managed KMS keys by purpose."
  type = object({
    axon       = string
    orbit      = string
    governance = string
    data       = string
  })
}

variable "logs_kms_key_arn" {
  description = "ARN of the customer-managed KMS key that encrypts the functions' log groups."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the functions' log groups, in days."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "rotation_days" {
  description = "Days between automatic rotations of the signing and receipt keys."
  type        = number
  default     = 30

  validation {
    condition     = var.rotation_days >= 1 && var.rotation_days <= 1000
    error_message = "rotation_days must be between 1 and 1000."
  }
}

variable "permissions_boundary_arn" {
  description = "ARN of the IAM policy set as permissions boundary on the functions' roles."
  type        = string
}

variable "vpc_endpoint_ids" {
  description = "IDs of the interface VPC endpoints (Secrets Manager among them): the first rotation, which seeds the keys, waits for them."
  type        = list(string)
}

variable "decision_log_retention_days" {
  description = "Days a decision's record stays in the decision log before DynamoDB's TTL deletes it (GOVERNANCE_DECISION_LOG_RETENTION_DAYS)."
  type        = number
  default     = 7

  validation {
    # Whole days: the function reads an integer (GOVERNANCE_DECISION_LOG_RETENTION_DAYS) and refuses to start otherwise.
    condition     = var.decision_log_retention_days >= 1 && var.decision_log_retention_days <= 365 && can(regex("^[0-9]+$", tostring(var.decision_log_retention_days)))
    error_message = "decision_log_retention_days must be a whole number of days between 1 and 365."
  }
}

variable "trace_sampling_ratio" {
  description = "Share of new traces the governance function records (OTEL_TRACES_SAMPLER_ARG of the parentbased_traceidratio sampler); a call whose caller sampled it is always recorded."
  type        = number
  default     = 1

  validation {
    condition     = var.trace_sampling_ratio >= 0 && var.trace_sampling_ratio <= 1
    error_message = "trace_sampling_ratio must be between 0 and 1."
  }
}

variable "trace_indexed_attributes" {
  description = "Span attributes the collector turns into X-Ray annotations (searchable: agentctl finds a trace by its correlation id through them)."
  type        = list(string)
  default     = []
}

variable "adot_collector_layer_arn" {
  description = "ARN of the ADOT collector Lambda layer (Region- and architecture-specific); null takes AWS's aws-otel-collector-<amd64|arm64>-ver-0-117-0:1 in this Region."
  type        = string
  default     = null

  validation {
    condition     = var.adot_collector_layer_arn == null || can(regex("^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:layer:[A-Za-z0-9_-]+:[0-9]+$", var.adot_collector_layer_arn))
    error_message = "adot_collector_layer_arn must be a Lambda layer version ARN (arn:aws:lambda:<region>:<account>:layer:<name>:<version>), or null."
  }
}
