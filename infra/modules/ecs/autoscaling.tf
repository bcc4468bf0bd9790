# CPU target tracking for both services, as in the specification: target 70 %, scale out after 60 s, in after
# 300 s, between min_capacity and max_capacity tasks.

locals {
  scaled_services = {
    orbit = aws_ecs_service.orbit.name
    axon  = aws_ecs_service.axon.name
  }
}

resource "aws_appautoscaling_target" "this" {
  for_each = local.scaled_services

  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${each.value}"
  min_capacity       = local.sizes[each.key].min_capacity
  max_capacity       = local.sizes[each.key].max_capacity

  tags = var.tags
}

resource "aws_appautoscaling_policy" "cpu" {
  for_each = aws_appautoscaling_target.this

  name               = "${var.project_name}-${each.key}-cpu-target"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = each.value.service_namespace
  scalable_dimension = each.value.scalable_dimension
  resource_id        = each.value.resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = 70
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}
