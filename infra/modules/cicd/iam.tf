# Policies of the deploy role, split by concern (each managed policy must stay under IAM's 6,144-character limit).
# Names and ARN prefixes follow the naming contract: <project>-*, <project>/*, /ecs/<project>-*, ...

locals {
  arn_prefix = {
    ec2       = "arn:${local.partition}:ec2:${local.region}:${local.account_id}"
    ecs       = "arn:${local.partition}:ecs:${local.region}:${local.account_id}"
    ecr       = "arn:${local.partition}:ecr:${local.region}:${local.account_id}"
    elb       = "arn:${local.partition}:elasticloadbalancing:${local.region}:${local.account_id}"
    iam       = "arn:${local.partition}:iam::${local.account_id}"
    kms       = "arn:${local.partition}:kms:${local.region}:${local.account_id}"
    lambda    = "arn:${local.partition}:lambda:${local.region}:${local.account_id}"
    logs      = "arn:${local.partition}:logs:${local.region}:${local.account_id}"
    secrets   = "arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}" # pragma: allowlist secret (a name, not a secret)
    dynamodb  = "arn:${local.partition}:dynamodb:${local.region}:${local.account_id}"
    sns       = "arn:${local.partition}:sns:${local.region}:${local.account_id}"
    alarms    = "arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}"
    discovery = "arn:${local.partition}:servicediscovery:${local.region}:${local.account_id}"
  }

  project_log_groups = [
    "${local.arn_prefix.logs}:log-group:/ecs/${var.project_name}-*",
    "${local.arn_prefix.logs}:log-group:/aws/lambda/${var.project_name}-*",
    "${local.arn_prefix.logs}:log-group:/aws/vpc/${var.project_name}-*",
  ]

  protected_policies = [
    "${local.arn_prefix.iam}:policy/${var.project_name}-deploy-*",
    "${local.arn_prefix.iam}:policy/${local.boundary_name}",
  ]

  # The service keys: the secrets the security module creates (a test keeps both lists equal). Secrets Manager
  # appends "-" and six random characters to a secret's name in its ARN.
  service_keys     = ["orbit-signing-key", "governance-receipt-key", "governance-receipt-public-key"]
  service_key_arns = [for name in local.service_keys : "${local.arn_prefix.secrets}:secret:${var.project_name}/${name}-*"]

  deploy_policies = {
    state-and-read = data.aws_iam_policy_document.deploy_state_and_read.json
    network        = data.aws_iam_policy_document.deploy_network.json
    compute        = data.aws_iam_policy_document.deploy_compute.json
    security       = data.aws_iam_policy_document.deploy_security.json
    data-and-logs  = data.aws_iam_policy_document.deploy_data_and_observability.json
  }
}

# Terraform state and read-only discovery ----------------------------------------------------------------------

data "aws_iam_policy_document" "deploy_state_and_read" {
  #checkov:skip=CKV_AWS_356:Describe/List calls of EC2, ELB, ECS, Auto Scaling, Cloud Map, the List* of other services and X-Ray's trace reads have no resource-level permissions; these statements are read-only.
  statement {
    sid       = "StateBucket"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = ["arn:${local.partition}:s3:::${var.state_bucket_name}"]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [var.state_key, "${var.state_key}.tflock"]
    }
  }

  statement {
    sid       = "StateObjectAndLock"
    effect    = "Allow"
    actions   = ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    resources = ["arn:${local.partition}:s3:::${var.state_bucket_name}/${var.state_key}*"]
  }

  # Axon's IAM grants derive from the configured inference profile (data.aws_bedrock_inference_profile).
  statement {
    sid     = "ReadInferenceProfiles"
    effect  = "Allow"
    actions = ["bedrock:GetInferenceProfile"]
    resources = [
      "arn:${local.partition}:bedrock:${local.region}:${local.account_id}:inference-profile/*",
      "arn:${local.partition}:bedrock:${local.region}:${local.account_id}:application-inference-profile/*",
    ]
  }

  # agentctl's trace command reads traces back from X-Ray (by id, or by the correlation-id annotation); neither call
  # can be scoped to a resource.
  statement {
    sid       = "ReadTraces"
    effect    = "Allow"
    actions   = ["xray:BatchGetTraces", "xray:GetTraceSummaries"]
    resources = ["*"]
  }

  statement {
    sid    = "ReadOnlyDiscovery"
    effect = "Allow"
    actions = [
      "application-autoscaling:Describe*",
      "cloudwatch:DescribeAlarms",
      "cloudwatch:GetMetricData",
      "cloudwatch:ListDashboards",
      "dynamodb:ListTables",
      "ec2:Describe*",
      "ecr:GetAuthorizationToken",
      "ecs:DescribeTaskDefinition",
      "ecs:ListClusters",
      "ecs:ListTaskDefinitions",
      "elasticloadbalancing:Describe*",
      "iam:ListOpenIDConnectProviders",
      "kms:ListAliases",
      "kms:ListKeys",
      "lambda:ListFunctions",
      "logs:DescribeLogGroups",
      "secretsmanager:ListSecrets",
      "servicediscovery:GetOperation",
      "servicediscovery:ListNamespaces",
      "sns:ListTopics",
      "sts:GetCallerIdentity",
    ]
    resources = ["*"]
  }
}

# Network: the VPC and everything in it, the load balancer ---------------------------------------------------

data "aws_iam_policy_document" "deploy_network" {
  #checkov:skip=CKV_AWS_111:route53:AssociateVPCWithHostedZone (a dependent action of creating an interface endpoint with private DNS) targets AWS-owned hosted zones whose ARNs are unknown; every other write is limited to this account and region.
  #checkov:skip=CKV_AWS_356:route53:AssociateVPCWithHostedZone targets AWS-owned private hosted zones of interface endpoints, which cannot be named in advance.
  statement {
    sid    = "VpcResourcesInThisAccountAndRegion"
    effect = "Allow"
    actions = [
      "ec2:AllocateAddress",
      "ec2:AssociateRouteTable",
      "ec2:AttachInternetGateway",
      "ec2:AuthorizeSecurityGroupEgress",
      "ec2:AuthorizeSecurityGroupIngress",
      "ec2:CreateFlowLogs",
      "ec2:CreateInternetGateway",
      "ec2:CreateNatGateway",
      "ec2:CreateNetworkAcl",
      "ec2:CreateNetworkAclEntry",
      "ec2:CreateRoute",
      "ec2:CreateRouteTable",
      "ec2:CreateSecurityGroup",
      "ec2:CreateSubnet",
      "ec2:CreateTags",
      "ec2:CreateVpc",
      "ec2:CreateVpcEndpoint",
      "ec2:DeleteFlowLogs",
      "ec2:DeleteInternetGateway",
      "ec2:DeleteNatGateway",
      "ec2:DeleteNetworkAcl",
      "ec2:DeleteNetworkAclEntry",
      "ec2:DeleteRoute",
      "ec2:DeleteRouteTable",
      "ec2:DeleteSecurityGroup",
      "ec2:DeleteSubnet",
      "ec2:DeleteTags",
      "ec2:DeleteVpc",
      "ec2:DeleteVpcEndpoints",
      "ec2:DetachInternetGateway",
      "ec2:DisassociateAddress",
      "ec2:DisassociateRouteTable",
      "ec2:ModifySecurityGroupRules",
      "ec2:ModifySubnetAttribute",
      "ec2:ModifyVpcAttribute",
      "ec2:ModifyVpcEndpoint",
      "ec2:ReleaseAddress",
      "ec2:ReplaceNetworkAclAssociation",
      "ec2:ReplaceNetworkAclEntry",
      "ec2:ReplaceRoute",
      "ec2:ReplaceRouteTableAssociation",
      "ec2:RevokeSecurityGroupEgress",
      "ec2:RevokeSecurityGroupIngress",
      "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
      "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
    ]
    resources = ["${local.arn_prefix.ec2}:*"]
  }

  statement {
    sid    = "ProjectLoadBalancer"
    effect = "Allow"
    actions = [
      "elasticloadbalancing:AddTags",
      "elasticloadbalancing:CreateListener",
      "elasticloadbalancing:CreateLoadBalancer",
      "elasticloadbalancing:CreateTargetGroup",
      "elasticloadbalancing:DeleteListener",
      "elasticloadbalancing:DeleteLoadBalancer",
      "elasticloadbalancing:DeleteTargetGroup",
      "elasticloadbalancing:ModifyListener",
      "elasticloadbalancing:ModifyListenerAttributes",
      "elasticloadbalancing:ModifyLoadBalancerAttributes",
      "elasticloadbalancing:ModifyTargetGroup",
      "elasticloadbalancing:ModifyTargetGroupAttributes",
      "elasticloadbalancing:RemoveTags",
      "elasticloadbalancing:SetSecurityGroups",
      "elasticloadbalancing:SetSubnets",
    ]
    resources = [
      "${local.arn_prefix.elb}:loadbalancer/app/${var.project_name}-alb/*",
      "${local.arn_prefix.elb}:listener/app/${var.project_name}-alb/*",
      "${local.arn_prefix.elb}:targetgroup/${var.project_name}-*/*",
    ]
  }

  # Interface endpoints with private DNS associate the VPC with AWS-owned private hosted zones.
  statement {
    sid       = "PrivateDnsOfInterfaceEndpoints"
    effect    = "Allow"
    actions   = ["route53:AssociateVPCWithHostedZone"]
    resources = ["*"]
  }

  statement {
    sid    = "AccessLogBucket"
    effect = "Allow"
    actions = [
      "s3:CreateBucket",
      "s3:DeleteBucket",
      "s3:DeleteBucketPolicy",
      "s3:DeleteObject",
      "s3:DeleteObjectVersion",
      "s3:Get*",
      "s3:List*",
      "s3:PutBucketOwnershipControls",
      "s3:PutBucketPolicy",
      "s3:PutBucketPublicAccessBlock",
      "s3:PutBucketTagging",
      "s3:PutBucketVersioning",
      "s3:PutEncryptionConfiguration",
      "s3:PutLifecycleConfiguration",
    ]
    resources = [
      "arn:${local.partition}:s3:::${var.project_name}-alb-logs-${local.account_id}",
      "arn:${local.partition}:s3:::${var.project_name}-alb-logs-${local.account_id}/*",
    ]
  }
}

# Compute: ECS, ECR, Lambda, autoscaling, Service Connect namespace -----------------------------------------------

data "aws_iam_policy_document" "deploy_compute" {
  #checkov:skip=CKV_AWS_111:ecs:RegisterTaskDefinition, servicediscovery:CreateHttpNamespace, the ECR pull-through cache rules and the Application Auto Scaling writes do not support resource-level permissions.
  #checkov:skip=CKV_AWS_356:The "*" statement holds only calls without resource-level permissions (task-definition registration, namespace creation, pull-through cache rules, scalable targets).
  statement {
    sid    = "ProjectClusterAndServices"
    effect = "Allow"
    actions = [
      "ecs:CreateCluster",
      "ecs:CreateService",
      "ecs:DeleteCluster",
      "ecs:DeleteService",
      "ecs:DescribeClusters",
      "ecs:DescribeServices",
      "ecs:DescribeTasks",
      "ecs:ListServices",
      "ecs:ListTagsForResource",
      "ecs:ListTasks",
      "ecs:PutClusterCapacityProviders",
      "ecs:StopTask", # agentctl chaos kill: one of the project's tasks, which its service replaces
      "ecs:TagResource",
      "ecs:UntagResource",
      "ecs:UpdateCluster",
      "ecs:UpdateService",
    ]
    resources = [
      "${local.arn_prefix.ecs}:cluster/${var.project_name}-cluster",
      "${local.arn_prefix.ecs}:service/${var.project_name}-cluster/*",
      "${local.arn_prefix.ecs}:task/${var.project_name}-cluster/*",
      "${local.arn_prefix.ecs}:task-definition/${var.project_name}-*:*",
    ]
  }

  statement {
    sid    = "UnscopableRegistrations"
    effect = "Allow"
    actions = [
      "application-autoscaling:DeleteScalingPolicy",
      "application-autoscaling:DeregisterScalableTarget",
      "application-autoscaling:ListTagsForResource",
      "application-autoscaling:PutScalingPolicy",
      "application-autoscaling:RegisterScalableTarget",
      "application-autoscaling:TagResource",
      "ecr:CreatePullThroughCacheRule",
      "ecr:DeletePullThroughCacheRule",
      "ecr:DescribePullThroughCacheRules",
      "ecs:DeregisterTaskDefinition",
      "ecs:RegisterTaskDefinition",
      "servicediscovery:CreateHttpNamespace",
    ]
    resources = ["*"]
  }

  statement {
    sid    = "ProjectNamespace"
    effect = "Allow"
    actions = [
      "servicediscovery:CreateService",
      "servicediscovery:DeleteNamespace",
      "servicediscovery:DeleteService",
      "servicediscovery:GetNamespace",
      "servicediscovery:GetService",
      "servicediscovery:ListTagsForResource",
      "servicediscovery:TagResource",
      "servicediscovery:UntagResource",
      "servicediscovery:UpdateHttpNamespace",
    ]
    resources = [
      "${local.arn_prefix.discovery}:namespace/*",
      "${local.arn_prefix.discovery}:service/*",
    ]
  }

  statement {
    sid    = "ProjectRepositories"
    effect = "Allow"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:CompleteLayerUpload",
      "ecr:CreateRepository",
      "ecr:DeleteLifecyclePolicy",
      "ecr:DeleteRepository",
      "ecr:DescribeImageScanFindings",
      "ecr:DescribeImages",
      "ecr:DescribeRepositories",
      "ecr:GetDownloadUrlForLayer",
      "ecr:GetLifecyclePolicy",
      "ecr:GetRepositoryPolicy",
      "ecr:InitiateLayerUpload",
      "ecr:ListImages",
      "ecr:ListTagsForResource",
      "ecr:PutImage",
      "ecr:PutImageScanningConfiguration",
      "ecr:PutImageTagMutability",
      "ecr:PutLifecyclePolicy",
      "ecr:TagResource",
      "ecr:UntagResource",
      "ecr:UploadLayerPart",
    ]
    resources = ["${local.arn_prefix.ecr}:repository/${var.project_name}/*"]
  }

  statement {
    sid    = "ProjectFunctions"
    effect = "Allow"
    actions = [
      "lambda:AddPermission",
      "lambda:CreateAlias",
      "lambda:CreateFunction",
      "lambda:DeleteAlias",
      "lambda:DeleteFunction",
      "lambda:DeleteFunctionConcurrency",
      "lambda:DeleteProvisionedConcurrencyConfig",
      "lambda:Get*",
      "lambda:InvokeFunction",
      "lambda:List*",
      "lambda:PublishVersion",
      "lambda:PutFunctionConcurrency",
      "lambda:PutProvisionedConcurrencyConfig",
      "lambda:RemovePermission",
      "lambda:TagResource",
      "lambda:UntagResource",
      "lambda:UpdateAlias",
      "lambda:UpdateFunctionCode",
      "lambda:UpdateFunctionConfiguration",
    ]
    resources = [
      "${local.arn_prefix.lambda}:function:${var.project_name}-*",
      "${local.arn_prefix.lambda}:function:${var.project_name}-*:*",
    ]
  }

  # Attaching a layer to a function (the ADOT collector extension of the governance function) reads it.
  dynamic "statement" {
    for_each = length(var.lambda_layer_arns) > 0 ? [1] : []

    content {
      sid       = "ReadAttachedLayers"
      effect    = "Allow"
      actions   = ["lambda:GetLayerVersion"]
      resources = [for arn in var.lambda_layer_arns : "${join(":", slice(split(":", arn), 0, 7))}:*"]
    }
  }

  statement {
    sid       = "PassWorkloadRoles"
    effect    = "Allow"
    actions   = ["iam:PassRole"]
    resources = ["${local.arn_prefix.iam}:role/${var.project_name}-*"]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com", "lambda.amazonaws.com", "vpc-flow-logs.amazonaws.com"]
    }
  }
}

# Security: IAM (bounded), KMS, Secrets Manager ----------------------------

data "aws_iam_policy_document" "deploy_security" {
  # IAM writes are limited to <project>-* roles carrying the workload boundary, and the deploy role's own role and policies are denied.
  # kms:CreateKey cannot be scoped to a resource; it requires the project tag.
  statement {
    sid    = "CreateBoundedWorkloadRoles"
    effect = "Allow"
    actions = [
      "iam:AttachRolePolicy",
      "iam:CreateRole",
      "iam:DeleteRolePolicy",
      "iam:DetachRolePolicy",
      "iam:PutRolePermissionsBoundary",
      "iam:PutRolePolicy",
    ]
    resources = ["${local.arn_prefix.iam}:role/${var.project_name}-*"]

    condition {
      test     = "StringEquals"
      variable = "iam:PermissionsBoundary"
      values   = [aws_iam_policy.boundary.arn]
    }
  }

  statement {
    sid    = "ManageWorkloadRoles"
    effect = "Allow"
    actions = [
      "iam:DeleteRole",
      "iam:GetRole",
      "iam:GetRolePolicy",
      "iam:ListAttachedRolePolicies",
      "iam:ListInstanceProfilesForRole",
      "iam:ListRolePolicies",
      "iam:ListRoleTags",
      "iam:TagRole",
      "iam:UntagRole",
      "iam:UpdateAssumeRolePolicy",
      "iam:UpdateRole",
      "iam:UpdateRoleDescription",
    ]
    resources = ["${local.arn_prefix.iam}:role/${var.project_name}-*"]
  }

  statement {
    sid    = "ReadProjectPoliciesAndOidc"
    effect = "Allow"
    actions = [
      "iam:GetOpenIDConnectProvider",
      "iam:GetPolicy",
      "iam:GetPolicyVersion",
      "iam:ListEntitiesForPolicy",
      "iam:ListOpenIDConnectProviderTags",
      "iam:ListPolicyTags",
      "iam:ListPolicyVersions",
    ]
    resources = [
      "${local.arn_prefix.iam}:policy/${var.project_name}-*",
      "${local.arn_prefix.iam}:oidc-provider/${local.oidc_host}",
    ]
  }

  statement {
    sid       = "ServiceLinkedRoles"
    effect    = "Allow"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["${local.arn_prefix.iam}:role/aws-service-role/*"]

    condition {
      test     = "StringEquals"
      variable = "iam:AWSServiceName"
      values   = ["ecs.amazonaws.com", "ecs.application-autoscaling.amazonaws.com", "elasticloadbalancing.amazonaws.com"]
    }
  }

  # CI can never widen its own access or lift the boundary.
  statement {
    sid    = "NoSelfEscalation"
    effect = "Deny"
    actions = [
      "iam:AttachRolePolicy",
      "iam:CreatePolicyVersion",
      "iam:DeletePolicy",
      "iam:DeletePolicyVersion",
      "iam:DeleteRole",
      "iam:DeleteRolePermissionsBoundary",
      "iam:DeleteRolePolicy",
      "iam:DetachRolePolicy",
      "iam:PutRolePermissionsBoundary",
      "iam:PutRolePolicy",
      "iam:SetDefaultPolicyVersion",
      "iam:UpdateAssumeRolePolicy",
    ]
    resources = concat(["${local.arn_prefix.iam}:role/${local.deploy_role_name}"], local.protected_policies)
  }

  statement {
    sid       = "NoBoundaryRemoval"
    effect    = "Deny"
    actions   = ["iam:DeleteRolePermissionsBoundary"]
    resources = ["${local.arn_prefix.iam}:role/${var.project_name}-*"]
  }

  # Tagging on creation needs kms:TagResource too; the new key has no tags yet, so both hang on the request tag.
  statement {
    sid       = "CreateProjectKeys"
    effect    = "Allow"
    actions   = ["kms:CreateKey", "kms:TagResource"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/Project"
      values   = [var.project_name]
    }
  }

  statement {
    sid    = "ManageAndUseProjectKeys"
    effect = "Allow"
    actions = [
      "kms:CreateAlias",
      "kms:CreateGrant",
      "kms:Decrypt",
      "kms:DeleteAlias",
      "kms:DescribeKey",
      "kms:EnableKeyRotation",
      "kms:Encrypt",
      "kms:GenerateDataKey",
      "kms:GetKeyPolicy",
      "kms:GetKeyRotationStatus",
      "kms:ListResourceTags",
      "kms:PutKeyPolicy",
      "kms:ScheduleKeyDeletion",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:UpdateAlias",
      "kms:UpdateKeyDescription",
    ]
    resources = ["${local.arn_prefix.kms}:key/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Project"
      values   = [var.project_name]
    }
  }

  statement {
    sid       = "ProjectKeyAliases"
    effect    = "Allow"
    actions   = ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"]
    resources = ["${local.arn_prefix.kms}:alias/${var.project_name}-*"]
  }

  # The service keys: their settings and rotation, never their values. Terraform creates them empty and the
  # key-rotation function writes every value; Terraform's UpdateSecret changes a description (a value through it
  # is refused by NoServiceKeyValues), RotateSecret configures the rotation and `agentctl keys rotate-service`
  # runs it. Creating or deleting a service key, like writing the resource policies that name its readers, is an
  # administrator's apply (the first deploy, a destroy): no CreateSecret, DeleteSecret or resource-policy write.
  statement {
    sid    = "ServiceKeySettings"
    effect = "Allow"
    actions = [
      "secretsmanager:CancelRotateSecret",
      "secretsmanager:DescribeSecret",
      "secretsmanager:GetResourcePolicy",
      "secretsmanager:ListSecretVersionIds",
      "secretsmanager:RotateSecret",
      "secretsmanager:TagResource",
      "secretsmanager:UntagResource",
      "secretsmanager:UpdateSecret",
    ]
    resources = local.service_key_arns
  }

  # No value of a service key passes through this role, whatever the call. Secrets Manager encrypts and decrypts
  # a secret's value with the caller's KMS permissions and the secret's ARN as encryption context, so this refuses
  # an UpdateSecret or CreateSecret (after a deletion) carrying a value, and any read, under any KMS key. It is an
  # identity policy the role cannot change (NoSelfEscalation); the keys' resource policies deny the other writes.
  statement {
    sid       = "NoServiceKeyValues"
    effect    = "Deny"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]
    resources = ["*"]

    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:SecretARN"
      values   = local.service_key_arns
    }
  }

  # This role never acts as another: it may rewrite a workload role's trust policy (Terraform does), and a trust
  # policy that names it would otherwise be enough for it to assume that role (the key-rotation role writes the
  # keys, the governance role reads its key).
  statement {
    sid       = "NoRoleAssumption"
    effect    = "Deny"
    actions   = ["sts:AssumeRole"]
    resources = ["*"]
  }

  # Operators (agentctl keys) issue, list, rotate and revoke client credentials under <project>/clients/: create
  # one with its value and tags, read its versions (list shows the key ids, rotate keeps the access key id), put a
  # new secret, delete it at once. Encrypted with the orbit key, which Orbit decrypts.
  statement {
    sid    = "OperateClientCredentials"
    effect = "Allow"
    actions = [
      "secretsmanager:CreateSecret",
      "secretsmanager:DeleteSecret",
      "secretsmanager:DescribeSecret",
      "secretsmanager:GetSecretValue",
      "secretsmanager:PutSecretValue",
      "secretsmanager:TagResource",
    ]
    resources = ["${local.arn_prefix.secrets}:secret:${var.project_name}/clients/*"]
  }

  # Operators (agentctl's tools commands) store, replace and delete the bearer tokens of MCP targets: a third
  # party's credentials, written (never read back) under <project>/targets/, which only Orbit reads.
  statement {
    sid    = "OperateTargetTokens"
    effect = "Allow"
    actions = [
      "secretsmanager:CreateSecret",
      "secretsmanager:DeleteSecret",
      "secretsmanager:DescribeSecret",
      "secretsmanager:PutSecretValue",
      "secretsmanager:TagResource",
    ]
    resources = ["${local.arn_prefix.secrets}:secret:${var.project_name}/targets/*"]
  }
}

# Data and observability: DynamoDB tables, log groups, alarms, the alarm topic, the dashboard ------------------

data "aws_iam_policy_document" "deploy_data_and_observability" {
  # Tables: Terraform manages them all; operators' data access is per table. No grant reaches the decision log but
  # Query (its resource policy denies everything else to everyone, and Query to all but the operators' roles).
  statement {
    sid    = "ProjectTables"
    effect = "Allow"
    actions = [
      "dynamodb:CreateTable",
      "dynamodb:DeleteTable",
      "dynamodb:Describe*",
      "dynamodb:GetResourcePolicy",
      "dynamodb:ListTagsOfResource",
      "dynamodb:TagResource",
      "dynamodb:UntagResource",
      "dynamodb:UpdateContinuousBackups",
      "dynamodb:UpdateTable",
      "dynamodb:UpdateTimeToLive",
    ]
    resources = ["${local.arn_prefix.dynamodb}:table/${var.project_name}-*"]
  }

  # agentctl's policy and limits commands and status: read the live version and limits (BatchGetItem), the
  # manifests and policies, write new immutable items and the pointer (a transaction of puts), count the items.
  # Backups and restores are an operator role's (docs/runbook.md), not this role's.
  statement {
    sid    = "PolicyTable"
    effect = "Allow"
    actions = [
      "dynamodb:BatchGetItem",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Scan",
    ]
    resources = ["${local.arn_prefix.dynamodb}:table/${var.project_name}-governance-policies"]
  }

  # agentctl's tools commands (add, sync, remove) on the MCP targets and their tools.
  statement {
    sid    = "OperateTools"
    effect = "Allow"
    actions = [
      "dynamodb:DeleteItem",
      "dynamodb:PutItem",
      "dynamodb:Scan",
      "dynamodb:UpdateItem",
    ]
    resources = ["${local.arn_prefix.dynamodb}:table/${var.project_name}-tools"]
  }

  # agentctl's policy replay and coverage read the decision log by hour.
  statement {
    sid       = "QueryDecisionLog"
    effect    = "Allow"
    actions   = ["dynamodb:Query"]
    resources = ["${local.arn_prefix.dynamodb}:table/${var.project_name}-decision-log"]
  }

  statement {
    sid    = "ProjectLogGroups"
    effect = "Allow"
    actions = [
      "logs:AssociateKmsKey",
      "logs:CreateLogGroup",
      "logs:DeleteLogGroup",
      "logs:DeleteRetentionPolicy",
      "logs:DisassociateKmsKey",
      "logs:FilterLogEvents",
      "logs:GetLogEvents",
      "logs:ListTagsForResource",
      "logs:ListTagsLogGroup",
      "logs:PutRetentionPolicy",
      "logs:TagLogGroup",
      "logs:TagResource",
      "logs:UntagLogGroup",
      "logs:UntagResource",
    ]
    resources = concat(local.project_log_groups, [for group in local.project_log_groups : "${group}:*"])
  }

  statement {
    sid    = "ProjectAlarmsTopicAndDashboard"
    effect = "Allow"
    actions = [
      "cloudwatch:DeleteAlarms",
      "cloudwatch:DeleteDashboards",
      "cloudwatch:GetDashboard",
      "cloudwatch:ListTagsForResource",
      "cloudwatch:PutDashboard",
      "cloudwatch:PutMetricAlarm",
      "cloudwatch:TagResource",
      "cloudwatch:UntagResource",
      "sns:CreateTopic",
      "sns:DeleteTopic",
      "sns:GetSubscriptionAttributes",
      "sns:GetTopicAttributes",
      "sns:ListSubscriptionsByTopic",
      "sns:ListTagsForResource",
      "sns:SetSubscriptionAttributes",
      "sns:SetTopicAttributes",
      "sns:Subscribe",
      "sns:TagResource",
      "sns:Unsubscribe",
      "sns:UntagResource",
    ]
    resources = [
      "${local.arn_prefix.alarms}:alarm:${var.project_name}-*",
      # Alarms that target-tracking scaling policies create for the services.
      "${local.arn_prefix.alarms}:alarm:TargetTracking-service/${var.project_name}-cluster/*",
      "arn:${local.partition}:cloudwatch::${local.account_id}:dashboard/${var.project_name}",
      "${local.arn_prefix.sns}:${var.project_name}-*",
    ]
  }
}
