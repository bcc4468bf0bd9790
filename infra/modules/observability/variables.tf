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
  description = "ARN of the customer-managed KMS key that encrypts the alarm topic."
  type        = string
}

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic (the subscription must be confirmed); null for none."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an e-mail address or null."
  }
}

variable "cluster_name" {
  description = "Name of the ECS cluster."
  type        = string
}

variable "service_names" {
  description = "Name of each ECS service."
  type = object({
    orbit = string
    axon  = string
  })
}

variable "alb_arn_suffix" {
  description = "ARN suffix of the load balancer (LoadBalancer metric dimension)."
  type        = string
}

variable "target_group_arn_suffix" {
  description = "ARN suffix of Orbit's target group (TargetGroup metric dimension)."
  type        = string
}

variable "lambda_function_names" {
  description = "Name of each Lambda function watched for errors and throttles."
  type = object({
    governance   = string
    key_rotation = string
  })
}

variable "table_names" {
  description = "Names of the DynamoDB tables watched for throttling."
  type        = list(string)
}

variable "thresholds" {
  description = "Alarm thresholds; defaults are the specification's (80 % CPU/memory, 5 % errors, p95 500 ms)."
  type = object({
    cpu_percent            = optional(number, 80)
    memory_percent         = optional(number, 80)
    error_rate_percent     = optional(number, 5)
    alb_5xx_count          = optional(number, 10)
    p95_latency_seconds    = optional(number, 0.5)
    lambda_errors          = optional(number, 1)
    lambda_throttles       = optional(number, 1)
    dynamodb_throttles     = optional(number, 1)
    governance_denials     = optional(number, 50)
    evaluation_period_secs = optional(number, 300)
  })
  default = {}

  validation {
    condition     = contains([60, 300, 900, 3600], var.thresholds.evaluation_period_secs)
    error_message = "thresholds.evaluation_period_secs must be 60, 300, 900 or 3600."
  }
}
