# The governance function (policy decision point, invoked by Orbit through its `live` alias) and the key-rotation
# function (invoked by Secrets Manager on the rotation schedule). Both come from the same zip, run in the private
# subnets with active tracing and reserved concurrency, and log to encrypted log groups created before them.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region

  governance_name   = "${var.project_name}-governance"
  key_rotation_name = "${var.project_name}-key-rotation"
  source_code_hash  = filebase64sha256(var.lambda_zip_path)

  # The ADOT collector as a Lambda extension (AWS's collector-only layer, published per Region and architecture by
  # AWS's account 901920570463): the function's OpenTelemetry SDK sends OTLP/HTTP to it on localhost:4318 and it
  # exports to X-Ray. Its configuration comes from the environment (the layer's env confmap provider), with the
  # attributes agentctl finds traces by indexed as X-Ray annotations (dots become underscores:
  # annotation.agent_runtime_correlation_id).
  adot_layer_arn = coalesce(
    var.adot_collector_layer_arn,
    "arn:${local.partition}:lambda:${local.region}:901920570463:layer:aws-otel-collector-${var.architecture == "arm64" ? "arm64" : "amd64"}-ver-0-117-0:1",
  )
  collector_config = yamlencode({
    receivers = { otlp = { protocols = { http = { endpoint = "localhost:4318" } } } }
    exporters = {
      awsxray = {
        indexed_attributes = var.trace_indexed_attributes
        aws_log_groups     = ["/aws/lambda/${local.governance_name}"]
      }
    }
    service = {
      pipelines = { traces = { receivers = ["otlp"], exporters = ["awsxray"] } }
      telemetry = { metrics = { level = "none" } }
    }
  })
}

resource "aws_cloudwatch_log_group" "governance" {
  #checkov:skip=CKV_AWS_338:Retention is a variable, 30 days by the specification (1-year archives are an export to S3, see the runbook).
  name              = "/aws/lambda/${local.governance_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn

  tags = var.tags
}

resource "aws_cloudwatch_log_group" "key_rotation" {
  #checkov:skip=CKV_AWS_338:Retention is a variable, 30 days by the specification (1-year archives are an export to S3, see the runbook).
  name              = "/aws/lambda/${local.key_rotation_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn

  tags = var.tags
}

resource "aws_lambda_function" "governance" {
  #checkov:skip=CKV_AWS_116:Orbit invokes the function synchronously and fails closed on any error; a dead-letter queue only applies to asynchronous invocations.
  #checkov:skip=CKV_AWS_272:The zip is built by CI from the reviewed commit and deployed by the OIDC deploy role only; AWS Signer code signing is not set up for this project.
  function_name                  = local.governance_name
  description                    = "Governance policy decision point (Cedar policies in DynamoDB, rate limits, signed receipts)"
  role                           = aws_iam_role.governance.arn
  runtime                        = var.runtime
  architectures                  = [var.architecture]
  handler                        = "governance.handler.lambda_handler"
  filename                       = var.lambda_zip_path
  source_code_hash               = local.source_code_hash
  publish                        = true
  memory_size                    = var.governance.memory_size
  timeout                        = var.governance.timeout
  reserved_concurrent_executions = var.governance.reserved_concurrency
  kms_key_arn                    = var.kms_key_arns.governance

  environment {
    variables = {
      # ENVIRONMENT is in the Cedar context of every decision (governance.config.Settings).
      ENVIRONMENT                            = var.environment
      PROJECT_NAME                           = var.project_name
      LOG_LEVEL                              = var.governance.log_level
      GOVERNANCE_DECISION_LOG_RETENTION_DAYS = tostring(var.decision_log_retention_days)
      OTEL_SERVICE_NAME                      = local.governance_name
      OTEL_EXPORTER_OTLP_ENDPOINT            = "http://localhost:4318"
      OTEL_TRACES_SAMPLER                    = "parentbased_traceidratio"
      OTEL_TRACES_SAMPLER_ARG                = tostring(var.trace_sampling_ratio)
      OTEL_RESOURCE_ATTRIBUTES               = "service.namespace=${var.project_name},deployment.environment.name=${var.environment}"
      OPENTELEMETRY_COLLECTOR_CONFIG_URI     = "env:ADOT_COLLECTOR_CONFIG"
      ADOT_COLLECTOR_CONFIG                  = local.collector_config
    }
  }

  # The ADOT collector extension: the SDK's spans leave the function through it (see local.collector_config).
  layers = [local.adot_layer_arn]

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = [aws_security_group.governance.id]
  }

  tracing_config {
    mode = "Active"
  }

  tags = merge(var.tags, { Name = local.governance_name, Service = "governance" })

  depends_on = [
    aws_cloudwatch_log_group.governance,
    aws_iam_role_policy.governance,
  ]
}

# Orbit invokes `<project>-governance:live`. Each deploy publishes a version and moves the alias to it; a rollback
# moves the alias back to an earlier version (agentctl rollback governance).
resource "aws_lambda_alias" "live" {
  name             = "live"
  description      = "Version Orbit invokes"
  function_name    = aws_lambda_function.governance.function_name
  function_version = aws_lambda_function.governance.version
}

# Instances of `live` kept initialised, so that the first calls after a deploy or a burst do not pay the cold start
# (imports, the first policy and key reads: see docs/architecture.md, Timeouts, for the figure) against Orbit's bound.
resource "aws_lambda_provisioned_concurrency_config" "live" {
  count = var.governance.provisioned_concurrency > 0 ? 1 : 0

  function_name                     = aws_lambda_alias.live.function_name
  qualifier                         = aws_lambda_alias.live.name
  provisioned_concurrent_executions = var.governance.provisioned_concurrency
}

resource "aws_lambda_function" "key_rotation" {
  #checkov:skip=CKV_AWS_116:Secrets Manager invokes rotation synchronously, step by step, and retries a failed rotation itself; a dead-letter queue would never receive anything.
  #checkov:skip=CKV_AWS_272:The zip is built by CI from the reviewed commit and deployed by the OIDC deploy role only; AWS Signer code signing is not set up for this project.
  function_name                  = local.key_rotation_name
  description                    = "Secrets Manager rotation (createSecret/setSecret/testSecret/finishSecret) of the project's keys"
  role                           = aws_iam_role.key_rotation.arn
  runtime                        = var.runtime
  architectures                  = [var.architecture]
  handler                        = "agent_runtime.key_rotation.lambda_handler"
  filename                       = var.lambda_zip_path
  source_code_hash               = local.source_code_hash
  publish                        = true
  memory_size                    = 256
  timeout                        = 60
  reserved_concurrent_executions = 5
  kms_key_arn                    = var.kms_key_arns.governance

  environment {
    variables = {
      PROJECT_NAME = var.project_name
    }
  }

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = [aws_security_group.key_rotation.id]
  }

  tracing_config {
    mode = "Active"
  }

  tags = merge(var.tags, { Name = local.key_rotation_name, Service = "key-rotation" })

  depends_on = [
    aws_cloudwatch_log_group.key_rotation,
    aws_iam_role_policy.key_rotation,
  ]
}

# Egress only: HTTPS to the interface endpoints (Secrets Manager, KMS, ...) and, for governance, to DynamoDB
# through its gateway endpoint. Nothing may connect to the functions.
resource "aws_security_group" "governance" {
  name        = local.governance_name
  description = "Governance Lambda: HTTPS to VPC endpoints and DynamoDB only"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = local.governance_name })
}

resource "aws_vpc_security_group_egress_rule" "governance_endpoints" {
  security_group_id            = aws_security_group.governance.id
  description                  = "HTTPS to the interface VPC endpoints"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = var.vpc_endpoints_security_group_id
}

resource "aws_vpc_security_group_egress_rule" "governance_dynamodb" {
  security_group_id = aws_security_group.governance.id
  description       = "HTTPS to DynamoDB through the gateway endpoint"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = var.dynamodb_prefix_list_id
}

resource "aws_security_group" "key_rotation" {
  name        = local.key_rotation_name
  description = "Key-rotation Lambda: HTTPS to VPC endpoints only"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = local.key_rotation_name })
}

resource "aws_vpc_security_group_egress_rule" "key_rotation_endpoints" {
  security_group_id            = aws_security_group.key_rotation.id
  description                  = "HTTPS to the interface VPC endpoints (Secrets Manager, KMS)"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = var.vpc_endpoints_security_group_id
}
