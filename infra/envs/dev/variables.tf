variable "region" {
  description = "AWS region of the environment."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as us-east-1."
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
  description = "Path of the Lambda package built by make lambda-package (relative paths are relative to this directory)."
  type        = string
  default     = "../../../governance/lambda/lambda.zip"
}

variable "certificate_arn" {
  description = "ARN of the ACM certificate of the internal load balancer's HTTPS listener."
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
  description = "State bucket of this environment; must match the backend's bucket (the deploy role may use it)."
  type        = string
  default     = "agent-runtime-terraform-state-dev"
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
  description = "Bedrock model (or inference profile) ID Axon uses when axon_engine is bedrock."
  type        = string
  default     = "amazon.nova-lite-v1:0"
}
