# The whole runtime of one environment: every module wired together. infra/envs/<env> calls this module with that
# environment's values, so the three environments cannot drift apart in shape.

locals {
  tags = merge(var.tags, { Project = var.project_name, Environment = var.environment })

  # Span attributes the ADOT collectors make X-Ray annotations (searchable; a dot becomes an underscore:
  # annotation.agent_runtime_correlation_id), so that agentctl finds a trace by correlation or decision id, and
  # the latest dispatch by its route (annotation.http_route).
  trace_indexed_attributes = [
    "agent_runtime.correlation_id",
    "agent_runtime.decision_id",
    "agent_runtime.outcome",
    "agent_runtime.principal",
    "http.route",
  ]
}

module "cicd" {
  source = "../cicd"

  project_name               = var.project_name
  environment                = var.environment
  github_repository          = var.github_repository
  github_branch              = var.github_branch
  existing_oidc_provider_arn = var.existing_oidc_provider_arn
  state_bucket_name          = var.state_bucket_name
  state_key                  = var.state_key
  lambda_layer_arns          = [module.lambda.adot_collector_layer_arn]
  tags                       = local.tags
}

module "security" {
  source = "../security"

  project_name                = var.project_name
  secret_recovery_window_days = var.deletion_protection ? 30 : 0
  # Who may read and write each service key, enforced by the secrets' resource policies (docs/security.md).
  secret_access = {
    orbit-signing-key = {
      readers = concat(values(module.ecs.task_role_arns), values(module.ecs.execution_role_arns), [module.lambda.key_rotation_role_arn])
      writers = [module.lambda.key_rotation_role_arn]
    }
    governance-receipt-key = {
      readers = [module.lambda.governance_role_arn, module.lambda.key_rotation_role_arn]
      writers = [module.lambda.key_rotation_role_arn]
    }
    governance-receipt-public-key = {
      writers = [module.lambda.key_rotation_role_arn]
    }
  }
  tags = local.tags
}

module "network" {
  source = "../network"

  project_name              = var.project_name
  vpc_cidr                  = var.network.vpc_cidr
  az_count                  = var.network.az_count
  availability_zones        = var.network.availability_zones
  single_nat_gateway        = var.network.single_nat_gateway
  client_cidr_blocks        = var.network.client_cidr_blocks
  extra_interface_endpoints = var.network.extra_interface_endpoints
  flow_log_retention_days   = var.log_retention_days
  logs_kms_key_arn          = module.security.kms_key_arns["logs"]
  permissions_boundary_arn  = module.cicd.permissions_boundary_arn
  tags                      = local.tags
}

module "dynamodb" {
  source = "../dynamodb"

  project_name        = var.project_name
  kms_key_arn         = module.security.kms_key_arns["data"]
  deletion_protection = var.deletion_protection
  # Who may write and read the decision log, enforced by its resource policy (docs/security.md): the governance
  # function records, the operators (the deploy role agentctl runs as, and any role listed) query.
  decision_log_writer_arns = [module.lambda.governance_role_arn]
  decision_log_reader_arns = compact(concat([module.cicd.deploy_role_arn], var.operator_role_arns))
  tags                     = local.tags
}

module "ecr" {
  source = "../ecr"

  project_name         = var.project_name
  force_delete         = !var.deletion_protection
  adot_collector_image = var.adot_collector_image
  kms_key_arns = {
    axon  = module.security.kms_key_arns["axon"]
    orbit = module.security.kms_key_arns["orbit"]
  }
  tags = local.tags
}

module "lambda" {
  source = "../lambda"

  project_name                    = var.project_name
  environment                     = var.environment
  lambda_zip_path                 = var.lambda_zip_path
  governance                      = var.governance
  vpc_id                          = module.network.vpc_id
  subnet_ids                      = module.network.private_subnet_ids
  vpc_endpoints_security_group_id = module.network.vpc_endpoints_security_group_id
  dynamodb_prefix_list_id         = module.network.dynamodb_prefix_list_id
  vpc_endpoint_ids                = module.network.interface_endpoint_ids
  table_arns = {
    policies     = module.dynamodb.table_arns["governance-policies"]
    rate_limits  = module.dynamodb.table_arns["rate-limits"]
    decision_log = module.dynamodb.table_arns["decision-log"]
  }
  decision_log_retention_days = var.decision_log_retention_days
  trace_sampling_ratio        = var.trace_sampling_ratio
  trace_indexed_attributes    = local.trace_indexed_attributes
  adot_collector_layer_arn    = var.adot_lambda_layer_arn
  secret_arns = {
    orbit_signing_key   = module.security.secret_arns["orbit-signing-key"]
    receipt_private_key = module.security.secret_arns["governance-receipt-key"]
    receipt_public_key  = module.security.secret_arns["governance-receipt-public-key"]
  }
  kms_key_arns = {
    axon       = module.security.kms_key_arns["axon"]
    orbit      = module.security.kms_key_arns["orbit"]
    governance = module.security.kms_key_arns["governance"]
    data       = module.security.kms_key_arns["data"]
  }
  logs_kms_key_arn         = module.security.kms_key_arns["logs"]
  log_retention_days       = var.log_retention_days
  permissions_boundary_arn = module.cicd.permissions_boundary_arn
  tags                     = local.tags
}

module "ecs" {
  source = "../ecs"

  project_name                    = var.project_name
  vpc_id                          = module.network.vpc_id
  vpc_cidr                        = module.network.vpc_cidr
  client_cidr_blocks              = var.network.client_cidr_blocks
  private_subnet_ids              = module.network.private_subnet_ids
  axon_subnet_ids                 = module.network.axon_subnet_ids
  vpc_endpoints_security_group_id = module.network.vpc_endpoints_security_group_id
  s3_prefix_list_id               = module.network.s3_prefix_list_id
  dynamodb_prefix_list_id         = module.network.dynamodb_prefix_list_id
  certificate_arn                 = var.certificate_arn
  deletion_protection             = var.deletion_protection
  ecr_repository_urls = {
    axon  = module.ecr.repository_urls["axon"]
    orbit = module.ecr.repository_urls["orbit"]
  }
  ecr_repository_arns = {
    axon  = module.ecr.repository_arns["axon"]
    orbit = module.ecr.repository_arns["orbit"]
  }
  orbit_image_tag = var.orbit_image_tag
  axon_image_tag  = var.axon_image_tag
  orbit           = var.orbit
  axon            = var.axon
  # From the lambda module: the task definitions wait for the first rotation, which writes these values.
  secret_arns = module.lambda.seeded_secret_arns
  kms_key_arns = {
    axon  = module.security.kms_key_arns["axon"]
    orbit = module.security.kms_key_arns["orbit"]
    data  = module.security.kms_key_arns["data"]
  }
  replay_table_arn              = module.dynamodb.table_arns["replay-cache"]
  tools_table_arn               = module.dynamodb.table_arns["tools"]
  environment                   = var.environment
  orbit_allowed_hosts           = var.orbit_allowed_hosts
  mcp_upstream_cidr_blocks      = var.mcp_upstream_cidr_blocks
  trace_sampling_ratio          = var.trace_sampling_ratio
  trace_indexed_attributes      = local.trace_indexed_attributes
  adot_collector_image          = module.ecr.adot_collector_image
  adot_collector_repository_arn = module.ecr.adot_collector_repository_arn
  governance_function_name      = module.lambda.governance_function_name
  governance_alias_name         = module.lambda.governance_alias_name
  governance_alias_arn          = module.lambda.governance_alias_arn
  axon_engine                   = var.axon_engine
  axon_bedrock_model_id         = var.axon_bedrock_model_id
  bedrock_model_arns            = var.bedrock_model_arns
  axon_engine_timeout_seconds   = var.axon_engine_timeout_seconds
  logs_kms_key_arn              = module.security.kms_key_arns["logs"]
  log_retention_days            = var.log_retention_days
  permissions_boundary_arn      = module.cicd.permissions_boundary_arn
  tags                          = local.tags
}

module "observability" {
  source = "../observability"

  project_name            = var.project_name
  kms_key_arn             = module.security.kms_key_arns["logs"]
  alarm_email             = var.alarm_email
  cluster_name            = module.ecs.cluster_name
  service_names           = module.ecs.service_names
  alb_arn_suffix          = module.ecs.alb_arn_suffix
  target_group_arn_suffix = module.ecs.orbit_target_group_arn_suffix
  lambda_function_names = {
    governance   = module.lambda.governance_function_name
    key_rotation = module.lambda.key_rotation_function_name
  }
  table_names = values(module.dynamodb.table_names)
  tags        = local.tags
}
