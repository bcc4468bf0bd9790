# staging: prod-like. Three AZs with a NAT gateway each, two tasks minimum per service, deletion protection on.
locals {
  environment = "staging"
}

module "stack" {
  source = "../../modules/stack"

  project_name = var.project_name
  environment  = local.environment

  network = {
    az_count           = 3
    single_nat_gateway = false
    client_cidr_blocks = var.client_cidr_blocks
  }

  deletion_protection = true
  log_retention_days  = 30

  orbit = { cpu = 512, memory = 1024, min_capacity = 2, max_capacity = 6 }
  axon  = { cpu = 1024, memory = 2048, min_capacity = 2, max_capacity = 6 }

  governance = {
    memory_size             = 512
    timeout                 = 10
    reserved_concurrency    = 50
    provisioned_concurrency = coalesce(var.governance_provisioned_concurrency, 1)
    log_level               = "INFO"
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
