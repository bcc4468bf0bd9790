# Shared by infra/envs/{dev,staging,prod} through symbolic links (one definition, no copy to drift): the provider
# versions and the AWS provider. Each environment's own files are main.tf (its sizes, local.environment) and
# versions.tf (the Terraform version and its partial S3 backend).

terraform {
  # Exact versions: .terraform.lock.hcl in each environment records their checksums, and agentctl runs
  # `terraform init -lockfile=readonly`, so every machine runs the same provider build.
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "6.25.0"
    }
  }
}

provider "aws" {
  # null: the region of the caller's AWS configuration (AWS_REGION, AWS_DEFAULT_REGION, the profile), the same
  # one agentctl and the backend use.
  region = var.region

  default_tags {
    tags = {
      Project     = var.project_name
      Environment = local.environment
      ManagedBy   = "terraform"
    }
  }
}
