variable "project_name" {
  description = "Project name; prefix of every resource name (PROJECT_NAME of the naming contract)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.project_name))
    error_message = "project_name must be 3-32 characters of lowercase letters, digits and '-', starting with a letter."
  }

  validation {
    # The load balancer (<project>-alb) and target group (<project>-orbit) names are limited to 32 characters.
    condition     = length(var.project_name) <= 26
    error_message = "project_name must be at most 26 characters for the ECS module: <project>-orbit names a target group (32 characters at most)."
  }
}

variable "tags" {
  description = "Tags added to every resource of this module."
  type        = map(string)
  default     = {}
}

variable "vpc_id" {
  description = "ID of the VPC."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC (always allowed to reach the internal load balancer)."
  type        = string
}

variable "client_cidr_blocks" {
  description = "Further CIDR blocks (VPN, peered networks) allowed to reach the internal load balancer."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for cidr in var.client_cidr_blocks : can(cidrnetmask(cidr)) && cidr != "0.0.0.0/0"])
    error_message = "client_cidr_blocks must be valid IPv4 CIDR blocks, and not 0.0.0.0/0."
  }
}

variable "private_subnet_ids" {
  description = "Private subnets of the load balancer and the Orbit tasks."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 2
    error_message = "private_subnet_ids needs at least two subnets (in two AZs) for the load balancer."
  }
}

variable "axon_subnet_ids" {
  description = "Isolated Axon runtime subnets (no route to the internet) of the Axon tasks."
  type        = list(string)
}

variable "vpc_endpoints_security_group_id" {
  description = "Security group of the interface VPC endpoints (the tasks' HTTPS destination for AWS APIs)."
  type        = string
}

variable "s3_prefix_list_id" {
  description = "Prefix list of the S3 gateway endpoint (ECR image layers)."
  type        = string
}

variable "dynamodb_prefix_list_id" {
  description = "Prefix list of the DynamoDB gateway endpoint."
  type        = string
}

variable "certificate_arn" {
  description = "ARN of the ACM certificate of the HTTPS listener."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/.+$", var.certificate_arn))
    error_message = "certificate_arn must be the ARN of an ACM certificate."
  }
}

variable "ssl_policy" {
  description = "TLS security policy of the HTTPS listener."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"

  validation {
    condition     = contains(["ELBSecurityPolicy-TLS13-1-2-2021-06", "ELBSecurityPolicy-TLS13-1-2-Res-2021-06", "ELBSecurityPolicy-TLS13-1-3-2021-06"], var.ssl_policy)
    error_message = "ssl_policy must be one of the TLS 1.2+/1.3 policies ELBSecurityPolicy-TLS13-1-2-2021-06, ELBSecurityPolicy-TLS13-1-2-Res-2021-06, ELBSecurityPolicy-TLS13-1-3-2021-06."
  }
}

variable "deletion_protection" {
  description = "Protect the load balancer from deletion and keep its access-log bucket when not empty (staging, prod)."
  type        = bool
  default     = true
}

variable "ecr_repository_urls" {
  description = "URL of each service's ECR repository."
  type = object({
    axon  = string
    orbit = string
  })
}

variable "ecr_repository_arns" {
  description = "ARN of each service's ECR repository."
  type = object({
    axon  = string
    orbit = string
  })
}

variable "orbit_image_tag" {
  description = "Tag (the git commit) of the Orbit image to run."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.orbit_image_tag)) && var.orbit_image_tag != "latest"
    error_message = "orbit_image_tag must be a valid image tag (the git commit), not \"latest\"."
  }
}

variable "axon_image_tag" {
  description = "Tag (the git commit) of the Axon image to run."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.axon_image_tag)) && var.axon_image_tag != "latest"
    error_message = "axon_image_tag must be a valid image tag (the git commit), not \"latest\"."
  }
}

variable "orbit" {
  description = "Orbit service size: task CPU units and memory (MiB), and the autoscaling range (desired count starts at min_capacity)."
  type = object({
    cpu          = optional(number, 512)
    memory       = optional(number, 1024)
    min_capacity = optional(number, 2)
    max_capacity = optional(number, 10)
  })
  default = {}

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096], var.orbit.cpu) && var.orbit.min_capacity >= 1 && var.orbit.min_capacity <= var.orbit.max_capacity
    error_message = "orbit.cpu must be a Fargate size (256, 512, 1024, 2048, 4096) and 1 <= orbit.min_capacity <= orbit.max_capacity."
  }
}

variable "axon" {
  description = "Axon service size: task CPU units and memory (MiB), and the autoscaling range (desired count starts at min_capacity)."
  type = object({
    cpu          = optional(number, 1024)
    memory       = optional(number, 2048)
    min_capacity = optional(number, 2)
    max_capacity = optional(number, 10)
  })
  default = {}

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096], var.axon.cpu) && var.axon.min_capacity >= 1 && var.axon.min_capacity <= var.axon.max_capacity
    error_message = "axon.cpu must be a Fargate size (256, 512, 1024, 2048, 4096) and 1 <= axon.min_capacity <= axon.max_capacity."
  }
}

variable "cpu_architecture" {
  description = "CPU architecture of the task definitions; the images must be built for it."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "secret_arns" {
  description = "ARNs of the secrets the containers read."
  type = object({
    orbit_signing_key  = string
    receipt_public_key = string
  })
}

variable "kms_key_arns" {
  description = "ARNs of the customer-managed KMS keys by purpose: orbit and axon (their secrets), data (DynamoDB)."
  type = object({
    axon  = string
    orbit = string
    data  = string
  })
}

variable "replay_table_arn" {
  description = "ARN of the replay-cache table (SigV4 replay protection shared by the replicas)."
  type        = string
}

variable "governance_function_name" {
  description = "Name of the governance Lambda function Orbit invokes."
  type        = string
}

variable "governance_alias_name" {
  description = "Alias of the governance function Orbit invokes."
  type        = string
  default     = "live"
}

variable "governance_alias_arn" {
  description = "ARN of the governance function's alias (the only function Orbit may invoke)."
  type        = string
}

variable "axon_engine" {
  description = "Reasoning engine of Axon: the deterministic builtin engine or Amazon Bedrock."
  type        = string
  default     = "builtin"

  validation {
    condition     = contains(["builtin", "bedrock"], var.axon_engine)
    error_message = "axon_engine must be builtin or bedrock."
  }
}

variable "axon_bedrock_model_id" {
  description = "Bedrock model (or inference profile) ID Axon uses when axon_engine is bedrock."
  type        = string
  default     = "amazon.nova-lite-v1:0"
}

variable "bedrock_model_arns" {
  description = "ARNs Axon may invoke, overriding what axon_bedrock_model_id implies (see bedrock.tf: its foundation model, or an inference profile and the foundation models it routes to)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.bedrock_model_arns : can(regex("^arn:aws[a-z-]*:bedrock:", arn)) && !strcontains(arn, "*")])
    error_message = "bedrock_model_arns must be Bedrock ARNs without wildcards."
  }
}

variable "logs_kms_key_arn" {
  description = "ARN of the customer-managed KMS key that encrypts the log groups."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the services' log groups, in days."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "access_log_retention_days" {
  description = "Days the load balancer's access logs are kept in S3."
  type        = number
  default     = 365

  validation {
    condition     = var.access_log_retention_days >= 1
    error_message = "access_log_retention_days must be at least 1."
  }
}

variable "permissions_boundary_arn" {
  description = "ARN of the IAM policy set as permissions boundary on the task and execution roles."
  type        = string
}

variable "axon_engine_timeout_seconds" {
  description = "Bound of one Bedrock call in Axon (AXON_ENGINE_TIMEOUT_SECONDS). Orbit's wait for Axon, the Service Connect request timeout, the load balancer's idle timeout and the drain times are derived from it (main.tf)."
  type        = number
  default     = 30

  validation {
    # The largest value whose derived stop timeouts stay within Fargate's 120 s.
    condition     = var.axon_engine_timeout_seconds >= 1 && var.axon_engine_timeout_seconds <= 100
    error_message = "axon_engine_timeout_seconds must be between 1 and 100."
  }
}

variable "orbit_governance_timeout_ms" {
  description = "Orbit's bound on one governance invocation (ORBIT_GOVERNANCE_TIMEOUT_MS, one attempt): above the handler's measured cold start plus the Lambda runtime's start (docs/architecture.md, Timeouts)."
  type        = number
  default     = 3000

  validation {
    condition     = var.orbit_governance_timeout_ms >= 500 && var.orbit_governance_timeout_ms <= 10000
    error_message = "orbit_governance_timeout_ms must be between 500 and 10000."
  }
}

variable "environment" {
  description = "Deployment environment, given to the applications' traces as the deployment.environment.name resource attribute."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "tools_table_arn" {
  description = "ARN of the tools table (MCP targets and their tools), which Orbit scans."
  type        = string
}

variable "orbit_allowed_hosts" {
  description = "Host header values (host or host:port) a client's signature to Orbit may be for, as ORBIT_ALLOWED_HOSTS: the name clients use for the load balancer. Empty: any Host."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for host in var.orbit_allowed_hosts : can(regex("^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$", host))])
    error_message = "orbit_allowed_hosts must be lowercase host names, optionally with :port (no scheme, path or comma)."
  }
}

variable "mcp_upstream_cidr_blocks" {
  description = "Networks of the MCP upstream servers Orbit may call (HTTPS, port 443), through the NAT gateway for public addresses. Empty: none besides the built-in axon target; 0.0.0.0/0 only when written out."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for cidr in var.mcp_upstream_cidr_blocks : can(cidrnetmask(cidr))])
    error_message = "mcp_upstream_cidr_blocks must be IPv4 CIDR blocks."
  }
}

variable "trace_sampling_ratio" {
  description = "Share of new traces the services record (OTEL_TRACES_SAMPLER_ARG of the parentbased_traceidratio sampler); a request whose caller sampled it is always recorded."
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

variable "adot_collector_image" {
  description = "Image of the ADOT collector sidecar, pinned by tag (the ecr module's pull-through-cache URI of the public image)."
  type        = string

  validation {
    condition     = can(regex(":[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.adot_collector_image)) && !can(regex(":latest$", var.adot_collector_image))
    error_message = "adot_collector_image must be pinned by a tag other than latest."
  }
}

variable "adot_collector_repository_arn" {
  description = "ARN of the ECR repository the collector image is pulled from (the pull-through cache's), for the execution roles."
  type        = string
}
