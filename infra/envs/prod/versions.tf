terraform {
  # The S3 lock file (use_lockfile) needs 1.10; 1.11 is the oldest release the project documents and supports.
  required_version = ">= 1.11.0"

  # A partial backend: the bucket and the region are the caller's, given at init time (agentctl deploy passes
  # them; docs/setup-guide.md shows the manual form):
  #   terraform init -lockfile=readonly -backend-config="bucket=$BUCKET" -backend-config="region=$AWS_REGION"
  backend "s3" {
    key          = "agent-runtime/prod/terraform.tfstate"
    encrypt      = true
    use_lockfile = true
  }
}
