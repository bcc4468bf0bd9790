# One repository per service (<project>/axon, <project>/orbit): immutable tags (images are tagged with the git
# commit), scan on push, encrypted with the service's KMS key, and a lifecycle policy that keeps enough images to
# roll back.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  repositories = toset(["axon", "orbit"])

  # ECR caps a cache prefix at 30 characters; project names here are at most 26.
  cache_prefix    = "${var.project_name}/pub"
  registry        = "${data.aws_caller_identity.current.account_id}.dkr.ecr.${data.aws_region.current.region}.amazonaws.com"
  collector_path  = trimprefix(split(":", var.adot_collector_image)[0], "public.ecr.aws/")
  collector_tag   = split(":", var.adot_collector_image)[1]
  repository_arns = "arn:${data.aws_partition.current.partition}:ecr:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:repository"
}

resource "aws_ecr_repository" "this" {
  for_each = local.repositories

  name                 = "${var.project_name}/${each.key}"
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.force_delete

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.kms_key_arns[each.key]
  }

  tags = merge(var.tags, { Name = "${var.project_name}/${each.key}", Service = each.key })
}

resource "aws_ecr_lifecycle_policy" "this" {
  for_each = aws_ecr_repository.this

  repository = each.value.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Expire untagged images (failed or superseded pushes) after 7 days"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = 7
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the ${var.keep_tagged_images} most recent tagged images"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = var.keep_tagged_images
        }
        action = { type = "expire" }
      },
    ]
  })
}

# Third-party images the tasks run, the ADOT collector sidecar, come from ECR Public through a pull-through cache
# in this registry: the tasks pull them like the project's own images, through the ecr VPC endpoints (Axon's subnets
# have no route to the internet, and Orbit's group no HTTPS egress to it). The first pull of a tag imports it into
# the repository <project>/pub/<upstream path>; ECR re-checks the upstream tag at most once a day.
resource "aws_ecr_pull_through_cache_rule" "ecr_public" {
  ecr_repository_prefix = local.cache_prefix
  upstream_registry_url = "public.ecr.aws"
}
