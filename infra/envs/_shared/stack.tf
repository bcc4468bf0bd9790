# The stack of every environment (dev, staging, prod), shared through symbolic links: each environment's main.tf
# sets only its locals (its name and sizes); everything else is wired here once.

module "stack" {
  source = "../../modules/stack"

  project_name        = var.project_name
  environment         = local.environment
  network             = merge(local.network, { client_cidr_blocks = var.client_cidr_blocks })
  deletion_protection = local.deletion_protection
  log_retention_days  = local.log_retention_days
  orbit               = local.orbit
  axon                = local.axon
  governance = merge(local.governance, {
    provisioned_concurrency = coalesce(var.governance_provisioned_concurrency, local.governance.provisioned_concurrency)
  })

  certificate_arn             = var.certificate_arn
  orbit_image_tag             = var.orbit_image_tag
  axon_image_tag              = var.axon_image_tag
  lambda_zip_path             = var.lambda_zip_path
  axon_engine                 = var.axon_engine
  axon_bedrock_model_id       = var.axon_bedrock_model_id
  bedrock_model_arns          = var.bedrock_model_arns
  axon_engine_timeout_seconds = var.axon_engine_timeout_seconds
  alarm_email                 = var.alarm_email

  orbit_allowed_hosts         = var.orbit_allowed_hosts
  mcp_upstream_cidr_blocks    = var.mcp_upstream_cidr_blocks
  decision_log_retention_days = var.decision_log_retention_days
  operator_role_arns          = var.operator_role_arns
  trace_sampling_ratio        = coalesce(var.trace_sampling_ratio, local.trace_sampling_ratio)
  adot_collector_image        = var.adot_collector_image
  adot_lambda_layer_arn       = var.adot_lambda_layer_arn

  github_repository          = var.github_repository
  existing_oidc_provider_arn = var.existing_oidc_provider_arn
  # The backend's bucket (given at init, agentctl's default name) and key (versions.tf): the deploy role's state.
  state_bucket_name = coalesce(var.state_bucket_name, "${var.project_name}-terraform-state-${local.environment}")
  state_key         = "agent-runtime/${local.environment}/terraform.tfstate"
}
