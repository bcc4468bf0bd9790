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

variable "orbit_allowed_hosts" {
  description = "Host header values (host or host:port) a client's signature to Orbit may be for, passed as ORBIT_ALLOWED_HOSTS: the certificate's name clients use; a request signed for another Host is refused. Empty: any Host."
  type        = list(string)
  default     = []
}

variable "mcp_upstream_cidr_blocks" {
  description = "Networks (CIDR blocks) of the MCP upstream servers Orbit may call over HTTPS (port 443, through the NAT gateway for public addresses). Empty: none besides the built-in axon target; 0.0.0.0/0 only if written out."
  type        = list(string)
  default     = []
}

variable "decision_log_retention_days" {
  description = "Days each decision's Cedar request is kept in the decision log for agentctl's policy replay (GOVERNANCE_DECISION_LOG_RETENTION_DAYS), 1-365."
  type        = number
  default     = 7
}

variable "operator_role_arns" {
  description = "IAM roles (full ARNs, path included) that run agentctl against this environment besides the deploy role; with the deploy role they are the only principals that may read the decision log."
  type        = list(string)
  default     = []
}

variable "trace_sampling_ratio" {
  description = "Share of new traces recorded by Orbit, Axon and Governance (OTEL_TRACES_SAMPLER_ARG of parentbased_traceidratio), 0-1; null takes the environment's default (prod 0.05, staging and dev 1)."
  type        = number
  default     = null
}

variable "adot_collector_image" {
  description = "ADOT collector image on ECR Public, pinned by tag, run as a tracing sidecar in every ECS task (pulled through the project's ECR pull-through cache)."
  type        = string
  default     = "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.3"
}

variable "adot_lambda_layer_arn" {
  description = "ARN of the ADOT collector Lambda layer for the governance function, in the environment's Region and for its architecture; null takes AWS's aws-otel-collector-<amd64|arm64>-ver-0-117-0:1 (account 901920570463) in that Region."
  type        = string
  default     = null
}
