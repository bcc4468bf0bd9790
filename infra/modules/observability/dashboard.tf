# One dashboard, <project>: the services, the load balancer, Governance and the tables at a glance.
# (Metric rows are built with concat(...) over per-item lists: flatten() would also flatten each row.)

locals {
  widget_defaults = {
    region = local.region
    period = 60
    view   = "timeSeries"
  }

  dashboard_widgets = [
    {
      type = "metric", x = 0, y = 0, width = 12, height = 6
      properties = merge(local.widget_defaults, {
        title = "ECS CPU and memory (%)"
        stat  = "Average"
        metrics = concat([
          for service, name in var.service_names : [
            ["AWS/ECS", "CPUUtilization", "ClusterName", var.cluster_name, "ServiceName", name, { label = "${service} CPU" }],
            ["AWS/ECS", "MemoryUtilization", "ClusterName", var.cluster_name, "ServiceName", name, { label = "${service} memory" }],
          ]
        ]...)
        yAxis       = { left = { min = 0, max = 100 } }
        annotations = { horizontal = [{ label = "alarm", value = var.thresholds.cpu_percent }] }
      })
    },
    {
      type = "metric", x = 12, y = 0, width = 12, height = 6
      properties = merge(local.widget_defaults, {
        title = "ALB requests and 5xx"
        stat  = "Sum"
        metrics = [
          ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", var.alb_arn_suffix, { label = "requests" }],
          ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "LoadBalancer", var.alb_arn_suffix, { label = "Orbit 5xx" }],
          ["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "LoadBalancer", var.alb_arn_suffix, { label = "ALB 5xx" }],
          ["AWS/ApplicationELB", "HTTPCode_Target_4XX_Count", "LoadBalancer", var.alb_arn_suffix, { label = "Orbit 4xx" }],
        ]
      })
    },
    {
      type = "metric", x = 0, y = 6, width = 12, height = 6
      properties = merge(local.widget_defaults, {
        title = "Orbit latency (s)"
        metrics = [
          ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", var.alb_arn_suffix, "TargetGroup", var.target_group_arn_suffix, { stat = "p50", label = "p50" }],
          ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", var.alb_arn_suffix, "TargetGroup", var.target_group_arn_suffix, { stat = "p95", label = "p95" }],
          ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", var.alb_arn_suffix, "TargetGroup", var.target_group_arn_suffix, { stat = "p99", label = "p99" }],
        ]
        annotations = { horizontal = [{ label = "p95 alarm", value = var.thresholds.p95_latency_seconds }] }
      })
    },
    {
      type = "metric", x = 12, y = 6, width = 12, height = 6
      properties = merge(local.widget_defaults, {
        title = "Governance decisions"
        stat  = "Sum"
        metrics = [
          [local.governance_namespace, "DecisionCount", "service", "governance", { label = "decisions" }],
          [local.governance_namespace, "DenialCount", "service", "governance", { label = "denials" }],
          [local.governance_namespace, "DecisionLatencyMs", "service", "governance", { stat = "p95", label = "p95 decision ms", yAxis = "right" }],
        ]
      })
    },
    {
      type = "metric", x = 0, y = 12, width = 12, height = 6
      properties = merge(local.widget_defaults, {
        title = "Lambda invocations, errors, throttles"
        stat  = "Sum"
        metrics = concat([
          for function, name in var.lambda_function_names : [
            ["AWS/Lambda", "Invocations", "FunctionName", name, { label = "${function} invocations" }],
            ["AWS/Lambda", "Errors", "FunctionName", name, { label = "${function} errors" }],
            ["AWS/Lambda", "Throttles", "FunctionName", name, { label = "${function} throttles" }],
          ]
        ]...)
      })
    },
    {
      type = "metric", x = 12, y = 12, width = 12, height = 6
      properties = merge(local.widget_defaults, {
        title = "DynamoDB throttle events"
        stat  = "Sum"
        metrics = concat([
          for table in var.table_names : [
            ["AWS/DynamoDB", "ReadThrottleEvents", "TableName", table, { label = "${table} reads" }],
            ["AWS/DynamoDB", "WriteThrottleEvents", "TableName", table, { label = "${table} writes" }],
          ]
        ]...)
      })
    },
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.project_name
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
