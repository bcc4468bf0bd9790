terraform {
  # Write-only arguments (first secret values never stored in state) need 1.11; the S3 lock file needs 1.10.
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.7"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.1"
    }
  }

  # One state bucket per environment (and per AWS account: see docs/setup-guide.md for its bootstrap). Another
  # bucket can be given at init time: terraform init -backend-config="bucket=NAME" (then set state_bucket_name too).
  backend "s3" {
    bucket       = "agent-runtime-terraform-state-staging"
    key          = "agent-runtime/staging/terraform.tfstate"
    region       = "us-east-1"
    encrypt      = true
    use_lockfile = true
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = var.project_name
      Environment = "staging"
      ManagedBy   = "terraform"
    }
  }
}
