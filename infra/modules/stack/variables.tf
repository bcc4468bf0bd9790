variable "project_name" {
  description = "Project name; prefix of every resource name (PROJECT_NAME of the naming contract)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.project_name))
    error_message = "project_name must be 3-32 characters of lowercase letters, digits and '-', starting with a letter."
  }
}

variable "environment" {
  description = "Deployment environment."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "tags" {
  description = "Tags added to every resource (on top of the provider's default tags)."
  type        = map(string)
  default     = {}
}

variable "network" {
  description = "Network shape: VPC CIDR, number of AZs (or their names), one shared NAT gateway or one per AZ, extra client networks of the ALB, extra interface endpoints."
  type = object({
    vpc_cidr                  = optional(string, "10.0.0.0/16")
    az_count                  = optional(number, 3)
    availability_zones        = optional(list(string), [])
    single_nat_gateway        = optional(bool, false)
    client_cidr_blocks        = optional(list(string), [])
    extra_interface_endpoints = optional(list(string), [])
  })
  default = {}
}

variable "deletion_protection" {
  description = "Deletion protection of the tables and the load balancer, long recovery windows for secrets (on outside dev)."
  type        = bool
}

variable "log_retention_days" {
  description = "Retention of every CloudWatch log group, in days."
  type        = number
  default     = 30
}

variable "certificate_arn" {
  description = "ARN of the ACM certificate of the load balancer's HTTPS listener."
  type        = string
}

variable "orbit_image_tag" {
  description = "Tag (the git commit) of the Orbit image to run."
  type        = string
}

variable "axon_image_tag" {
  description = "Tag (the git commit) of the Axon image to run."
  type        = string
}

variable "orbit" {
  description = "Orbit task size and autoscaling range."
  type = object({
    cpu          = optional(number, 512)
    memory       = optional(number, 1024)
    min_capacity = optional(number, 2)
    max_capacity = optional(number, 10)
  })
  default = {}
}

variable "axon" {
  description = "Axon task size and autoscaling range."
  type = object({
    cpu          = optional(number, 1024)
    memory       = optional(number, 2048)
    min_capacity = optional(number, 2)
    max_capacity = optional(number, 10)
  })
  default = {}
}

variable "axon_engine" {
  description = "Reasoning engine of Axon (builtin or bedrock)."
  type        = string
  default     = "builtin"
}

variable "axon_bedrock_model_id" {
  description = "Bedrock model (or inference profile) ID Axon uses when axon_engine is bedrock."
  type        = string
  default     = "amazon.nova-lite-v1:0"
}

variable "bedrock_model_arns" {
  description = "Bedrock ARNs Axon may invoke; empty derives them from axon_bedrock_model_id (its foundation model, or an inference profile and the foundation models it routes to)."
  type        = list(string)
  default     = []
}

variable "axon_engine_timeout_seconds" {
  description = "Bound of one Bedrock call in Axon (AXON_ENGINE_TIMEOUT_SECONDS); Orbit's wait for Axon and the load balancer's idle timeout are derived from it."
  type        = number
  default     = 30
}

variable "lambda_zip_path" {
  description = "Path of the Lambda deployment package (agentctl deploy builds it with scripts/build_lambda.py)."
  type        = string
}

variable "governance" {
  description = "Governance function sizing: memory (MB), timeout (s), reserved and provisioned concurrency, log level."
  type = object({
    memory_size             = optional(number, 512)
    timeout                 = optional(number, 10)
    reserved_concurrency    = optional(number, 50)
    provisioned_concurrency = optional(number, 0)
    log_level               = optional(string, "INFO")
  })
  default = {}
}

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic; null for none."
  type        = string
  default     = null
}

variable "github_repository" {
  description = "GitHub repository (\"owner/name\") whose workflows may assume the deploy role; null creates no deploy role."
  type        = string
  default     = null
}

variable "github_branch" {
  description = "Branch whose workflow runs may assume the deploy role."
  type        = string
  default     = "main"
}

variable "existing_oidc_provider_arn" {
  description = "ARN of the account's existing GitHub OIDC provider; null creates one."
  type        = string
  default     = null
}

variable "state_bucket_name" {
  description = "S3 bucket of this environment's Terraform state (same as the backend's)."
  type        = string
}

variable "state_key" {
  description = "Key of this environment's state object (same as the backend's)."
  type        = string
}

variable "operator_role_arns" {
  description = "IAM roles that run agentctl against this environment besides the deploy role (an operator's SSO role, with its path): with the deploy role, the only principals that may read the decision log."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.operator_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[^*]+$", arn))])
    error_message = "operator_role_arns must be IAM role ARNs without wildcards."
  }
}

variable "decision_log_retention_days" {
  description = "Days each decision's record stays in the decision log (GOVERNANCE_DECISION_LOG_RETENTION_DAYS); DynamoDB's TTL deletes it after."
  type        = number
  default     = 7
}

variable "orbit_allowed_hosts" {
  description = "Host header values a client's signature to Orbit may be for (ORBIT_ALLOWED_HOSTS); empty: any."
  type        = list(string)
  default     = []
}

variable "mcp_upstream_cidr_blocks" {
  description = "Networks of the MCP upstream servers Orbit may reach over HTTPS; empty: none besides the built-in axon target."
  type        = list(string)
  default     = []
}

variable "trace_sampling_ratio" {
  description = "Share of new traces Orbit, Axon and Governance record (OTEL_TRACES_SAMPLER_ARG, parent-based)."
  type        = number
  default     = 1
}

variable "adot_collector_image" {
  description = "ADOT collector image on ECR Public, pinned by tag, run as a sidecar of every task (through the project's pull-through cache)."
  type        = string
  default     = "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.3"
}

variable "adot_lambda_layer_arn" {
  description = "ADOT collector Lambda layer of the governance function; null takes AWS's layer for the Region and architecture (the lambda module's default)."
  type        = string
  default     = null
}
