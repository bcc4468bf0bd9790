# Alarms of the specification, to an encrypted SNS topic, and one CloudWatch dashboard.
#   ECS CPU and memory > 80 % (each service); ALB 5xx and error rate > 5 %, p95 latency > 500 ms;
#   Lambda errors and throttles (both functions); DynamoDB throttles (each table);
#   governance denials spike (EMF metric DenialCount in <project>/Governance, dimension service=governance).

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  period     = var.thresholds.evaluation_period_secs

  governance_namespace = "${var.project_name}/Governance"
  governance_dimension = { service = "governance" }

  ecs_alarms = merge([
    for service, name in var.service_names : {
      "${service}-cpu-high" = {
        namespace          = "AWS/ECS"
        metric             = "CPUUtilization"
        statistic          = "Average"
        extended_statistic = null
        threshold          = var.thresholds.cpu_percent
        evaluation_periods = 2
        dimensions         = { ClusterName = var.cluster_name, ServiceName = name }
        description        = "${name}: average CPU above ${var.thresholds.cpu_percent} % for two periods"
      }
      "${service}-memory-high" = {
        namespace          = "AWS/ECS"
        metric             = "MemoryUtilization"
        statistic          = "Average"
        extended_statistic = null
        threshold          = var.thresholds.memory_percent
        evaluation_periods = 2
        dimensions         = { ClusterName = var.cluster_name, ServiceName = name }
        description        = "${name}: average memory above ${var.thresholds.memory_percent} % for two periods"
      }
    }
  ]...)

  lambda_alarms = merge([
    for function, name in var.lambda_function_names : {
      "${replace(function, "_", "-")}-errors" = {
        namespace          = "AWS/Lambda"
        metric             = "Errors"
        statistic          = "Sum"
        extended_statistic = null
        threshold          = var.thresholds.lambda_errors
        evaluation_periods = 1
        dimensions         = { FunctionName = name }
        description        = "${name}: function errors (Orbit fails closed, so requests are being refused)"
      }
      "${replace(function, "_", "-")}-throttles" = {
        namespace          = "AWS/Lambda"
        metric             = "Throttles"
        statistic          = "Sum"
        extended_statistic = null
        threshold          = var.thresholds.lambda_throttles
        evaluation_periods = 1
        dimensions         = { FunctionName = name }
        description        = "${name}: invocations throttled (reserved concurrency exhausted)"
      }
    }
  ]...)

  alb_alarms = {
    "alb-target-5xx" = {
      namespace          = "AWS/ApplicationELB"
      metric             = "HTTPCode_Target_5XX_Count"
      statistic          = "Sum"
      extended_statistic = null
      threshold          = var.thresholds.alb_5xx_count
      evaluation_periods = 1
      dimensions         = { LoadBalancer = var.alb_arn_suffix, TargetGroup = var.target_group_arn_suffix }
      description        = "Orbit answered with 5xx at least ${var.thresholds.alb_5xx_count} times"
    }
    "alb-elb-5xx" = {
      namespace          = "AWS/ApplicationELB"
      metric             = "HTTPCode_ELB_5XX_Count"
      statistic          = "Sum"
      extended_statistic = null
      threshold          = var.thresholds.alb_5xx_count
      evaluation_periods = 1
      dimensions         = { LoadBalancer = var.alb_arn_suffix }
      description        = "The load balancer itself answered with 5xx (no healthy Orbit task?) at least ${var.thresholds.alb_5xx_count} times"
    }
    "alb-p95-latency" = {
      namespace          = "AWS/ApplicationELB"
      metric             = "TargetResponseTime"
      statistic          = null
      extended_statistic = "p95"
      threshold          = var.thresholds.p95_latency_seconds
      evaluation_periods = 2
      dimensions         = { LoadBalancer = var.alb_arn_suffix, TargetGroup = var.target_group_arn_suffix }
      description        = "p95 latency of Orbit above ${var.thresholds.p95_latency_seconds * 1000} ms for two periods"
    }
  }

  governance_alarms = {
    "governance-denials-spike" = {
      namespace          = local.governance_namespace
      metric             = "DenialCount"
      statistic          = "Sum"
      extended_statistic = null
      threshold          = var.thresholds.governance_denials
      evaluation_periods = 1
      dimensions         = local.governance_dimension
      description        = "Governance denied more than ${var.thresholds.governance_denials} calls in one period (abuse or a bad policy push)"
    }
  }

  metric_alarms = merge(local.ecs_alarms, local.lambda_alarms, local.alb_alarms, local.governance_alarms)
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.project_name}-alarms"
  kms_master_key_id = var.kms_key_arn

  tags = var.tags
}

data "aws_iam_policy_document" "alarms_topic" {
  statement {
    sid       = "CloudWatchAlarmsPublish"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  arn    = aws_sns_topic.alarms.arn
  policy = data.aws_iam_policy_document.alarms_topic.json
}

resource "aws_sns_topic_subscription" "email" {
  count = var.alarm_email == null ? 0 : 1

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_metric_alarm" "metric" {
  for_each = local.metric_alarms

  alarm_name          = "${var.project_name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  statistic           = each.value.statistic
  extended_statistic  = each.value.extended_statistic
  dimensions          = each.value.dimensions
  period              = local.period
  evaluation_periods  = each.value.evaluation_periods
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  tags = var.tags
}

# ALB error rate: 5xx (from the ALB and from Orbit) per request, in percent.
resource "aws_cloudwatch_metric_alarm" "alb_error_rate" {
  alarm_name          = "${var.project_name}-alb-error-rate"
  alarm_description   = "More than ${var.thresholds.error_rate_percent} % of requests answered with 5xx"
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.thresholds.error_rate_percent
  evaluation_periods  = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  metric_query {
    id          = "error_rate"
    expression  = "100 * (FILL(elb5xx, 0) + FILL(target5xx, 0)) / requests"
    label       = "5xx error rate (%)"
    return_data = true
  }

  metric_query {
    id = "requests"

    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      stat        = "Sum"
      period      = local.period
      dimensions  = { LoadBalancer = var.alb_arn_suffix }
    }
  }

  metric_query {
    id = "elb5xx"

    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_ELB_5XX_Count"
      stat        = "Sum"
      period      = local.period
      dimensions  = { LoadBalancer = var.alb_arn_suffix }
    }
  }

  metric_query {
    id = "target5xx"

    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      stat        = "Sum"
      period      = local.period
      dimensions  = { LoadBalancer = var.alb_arn_suffix }
    }
  }

  tags = var.tags
}

# DynamoDB: any throttled read or write on a table.
resource "aws_cloudwatch_metric_alarm" "dynamodb_throttles" {
  for_each = toset(var.table_names)

  alarm_name          = "${each.value}-throttles"
  alarm_description   = "${each.value}: read or write requests throttled"
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = var.thresholds.dynamodb_throttles
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  metric_query {
    id          = "throttles"
    expression  = "FILL(reads, 0) + FILL(writes, 0)"
    label       = "Throttle events"
    return_data = true
  }

  metric_query {
    id = "reads"

    metric {
      namespace   = "AWS/DynamoDB"
      metric_name = "ReadThrottleEvents"
      stat        = "Sum"
      period      = local.period
      dimensions  = { TableName = each.value }
    }
  }

  metric_query {
    id = "writes"

    metric {
      namespace   = "AWS/DynamoDB"
      metric_name = "WriteThrottleEvents"
      stat        = "Sum"
      period      = local.period
      dimensions  = { TableName = each.value }
    }
  }

  tags = var.tags
}
