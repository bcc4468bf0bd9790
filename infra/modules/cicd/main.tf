# GitHub Actions OIDC federation and the deploy role that `agentctl deploy` (and `make deploy`) runs as in CI.
#
# Without github_repository only the permissions boundary is created (every workload role needs it); set it to
# create the OIDC provider and the deploy role.
#
# The deploy role is limited to this repository (the configured branch, or jobs bound to the GitHub environment of
# this environment), and its permissions to the project's resources by name or ARN prefix wherever AWS allows it.
# It may create and change IAM roles named <project>-* only with the workload permissions boundary attached, and it
# may never change its own role, its own policies or the boundary: changes to this module are applied by an
# administrator, not by CI.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region

  oidc_host          = "token.actions.githubusercontent.com"
  create_deploy_role = var.github_repository != null
  oidc_provider_arn = (
    !local.create_deploy_role ? null :
    var.existing_oidc_provider_arn != null ? var.existing_oidc_provider_arn : aws_iam_openid_connect_provider.github[0].arn
  )

  deploy_role_name = "${var.project_name}-github-deploy"
  boundary_name    = "${var.project_name}-workload-boundary"

  github_subjects = local.create_deploy_role ? [
    "repo:${var.github_repository}:ref:refs/heads/${var.github_branch}",
    "repo:${var.github_repository}:environment:${var.environment}",
  ] : []
}

resource "aws_iam_openid_connect_provider" "github" {
  count = local.create_deploy_role && var.existing_oidc_provider_arn == null ? 1 : 0

  url            = "https://${local.oidc_host}"
  client_id_list = ["sts.amazonaws.com"]

  tags = merge(var.tags, { Name = local.oidc_host })
}

data "aws_iam_policy_document" "deploy_assume" {
  count = local.create_deploy_role ? 1 : 0

  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_host}:sub"
      values   = local.github_subjects
    }
  }
}

resource "aws_iam_role" "deploy" {
  count = local.create_deploy_role ? 1 : 0

  name                 = local.deploy_role_name
  description          = "CI deploy role of ${var.project_name} (${var.environment}), assumed by GitHub Actions of ${var.github_repository}"
  assume_role_policy   = data.aws_iam_policy_document.deploy_assume[0].json
  max_session_duration = 3600

  tags = var.tags
}

resource "aws_iam_policy" "deploy" {
  for_each = local.create_deploy_role ? local.deploy_policies : {}

  name        = "${var.project_name}-deploy-${each.key}"
  description = "Deploy role of ${var.project_name}: ${each.key}"
  policy      = each.value

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "deploy" {
  for_each = aws_iam_policy.deploy

  role       = aws_iam_role.deploy[0].name
  policy_arn = each.value.arn
}
