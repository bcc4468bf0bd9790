# Inputs of every environment (dev, staging, prod), shared through symbolic links. What differs per environment
# (sizes, deletion protection, defaults such as provisioned concurrency) is in that environment's main.tf.

variable "region" {
  description = "AWS region of the environment; null takes the caller's (AWS_REGION, AWS_DEFAULT_REGION or the profile's region), as the backend does."
  type        = string
  default     = null

  validation {
    condition     = var.region == null || can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1, or null."
  }
}

variable "project_name" {
  description = "Project name; prefix of every resource name (PROJECT_NAME of the naming contract)."
  type        = string
  default     = "agent-runtime"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.project_name))
    error_message = "project_name must be 3-32 characters of lowercase letters, digits and '-', starting with a letter."
  }
}

variable "orbit_image_tag" {
  description = "Tag (the git commit) of the Orbit image in ECR; passed by agentctl deploy."
  type        = string
}

variable "axon_image_tag" {
  description = "Tag (the git commit) of the Axon image in ECR; passed by agentctl deploy."
  type        = string
}

variable "lambda_zip_path" {
  description = "Path of the Lambda package that agentctl deploy builds (scripts/build_lambda.py); relative paths are relative to this directory."
  type        = string
  default     = "../../../governance/lambda/lambda.zip"
}

variable "certificate_arn" {
  description = "ARN of the ACM certificate of the internal load balancer's HTTPS listener (TF_VAR_certificate_arn or a var file)."
  type        = string
}

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic; null for none."
  type        = string
  default     = null
}

variable "github_repository" {
  description = "GitHub repository (\"owner/name\") allowed to assume the deploy role; null creates no deploy role."
  type        = string
  default     = null
}

variable "existing_oidc_provider_arn" {
  description = "ARN of the account's GitHub OIDC provider when it already exists; null creates it."
  type        = string
  default     = null
}

variable "state_bucket_name" {
  description = "State bucket of this environment, the backend's (the deploy role may use it); null means <project_name>-terraform-state-<environment>, agentctl's default."
  type        = string
  default     = null
}

variable "client_cidr_blocks" {
  description = "Networks besides the VPC (VPN, peered VPCs) allowed to reach the internal load balancer."
  type        = list(string)
  default     = []
}

variable "axon_engine" {
  description = "Reasoning engine of Axon: builtin or bedrock."
  type        = string
  default     = "builtin"
}

variable "axon_bedrock_model_id" {
  description = "Bedrock foundation model ID (amazon.nova-lite-v1:0), cross-Region inference profile ID (us.amazon.nova-lite-v1:0) or inference profile ARN that Axon uses when axon_engine is bedrock."
  type        = string
  default     = "amazon.nova-lite-v1:0"
}

variable "bedrock_model_arns" {
  description = "Bedrock ARNs Axon may invoke, overriding what axon_bedrock_model_id implies (its foundation model, or an inference profile and the foundation models it routes to); empty derives them."
  type        = list(string)
  default     = []
}

variable "axon_engine_timeout_seconds" {
  description = "Bound of one Bedrock call in Axon (AXON_ENGINE_TIMEOUT_SECONDS); Orbit waits 5 s more for Axon, and the load balancer longer still."
  type        = number
  default     = 30
}

variable "governance_provisioned_concurrency" {
  description = "Pre-initialised instances of the governance function's live alias (no cold start on them); null takes the environment's default (prod 2, staging 1, dev 0)."
  type        = number
  default     = null
}
