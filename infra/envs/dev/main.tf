# dev: the smallest environment that still has the production shape. Two AZs and one shared NAT gateway, one or
# two tasks per service, no deletion protection (dev is torn down and rebuilt).
locals {
  environment = "dev"
}

module "stack" {
  source = "../../modules/stack"

  project_name = var.project_name
  environment  = local.environment

  network = {
    az_count           = 2
    single_nat_gateway = true
    client_cidr_blocks = var.client_cidr_blocks
  }

  deletion_protection = false
  log_retention_days  = 30

  orbit = { cpu = 256, memory = 512, min_capacity = 1, max_capacity = 2 }
  axon  = { cpu = 512, memory = 1024, min_capacity = 1, max_capacity = 2 }

  governance = {
    memory_size             = 512
    timeout                 = 10
    reserved_concurrency    = 10
    provisioned_concurrency = coalesce(var.governance_provisioned_concurrency, 0)
    log_level               = "DEBUG"
  }

  certificate_arn             = var.certificate_arn
  orbit_image_tag             = var.orbit_image_tag
  axon_image_tag              = var.axon_image_tag
  lambda_zip_path             = var.lambda_zip_path
  axon_engine                 = var.axon_engine
  axon_bedrock_model_id       = var.axon_bedrock_model_id
  bedrock_model_arns          = var.bedrock_model_arns
  axon_engine_timeout_seconds = var.axon_engine_timeout_seconds
  alarm_email                 = var.alarm_email

  github_repository          = var.github_repository
  existing_oidc_provider_arn = var.existing_oidc_provider_arn
  state_bucket_name          = coalesce(var.state_bucket_name, "${var.project_name}-terraform-state-${local.environment}")
  state_key                  = "agent-runtime/${local.environment}/terraform.tfstate"
}
