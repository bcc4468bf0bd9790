# ECS cluster (Container Insights), the Service Connect namespace, and the Orbit and Axon Fargate services.
#
# Both task definitions: read-only root filesystem with a writable /tmp volume (Prometheus multiprocess files in
# /tmp/prometheus, gunicorn worker heartbeats), a non-root user (uid 10001, as in the Dockerfiles), secrets from
# Secrets Manager through the `secrets` map, awslogs to encrypted log groups, all Linux capabilities dropped.
# Orbit reaches Axon through ECS Service Connect at http://axon:8081 (no App Mesh); each request is also SigV4-signed
# by Orbit and verified by Axon, which accepts only requests signed for that Host (AXON_ALLOWED_HOSTS).
#
# Tracing: each task also runs the ADOT collector as a sidecar (local.collector_containers). The application sends
# its OpenTelemetry spans over OTLP/HTTP to localhost:4318 (awsvpc tasks share one network namespace), and the
# collector exports them to X-Ray through the xray VPC endpoint.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region

  cluster_name = "${var.project_name}-cluster"
  service_names = {
    orbit = "${var.project_name}-orbit"
    axon  = "${var.project_name}-axon"
  }
  ports = {
    orbit = 8080
    axon  = 8081
  }

  container_user = "10001:10001"
  python         = "/opt/venv/bin/python"

  # Tracing reads only the OpenTelemetry SDK's standard variables (OTEL_*). Sampling is parent-based: a request whose
  # caller (a client's traceparent, or Orbit for Axon) sampled it is recorded, and trace_sampling_ratio of the others.
  otlp_endpoint            = "http://localhost:${local.collector_ports.otlp_http}"
  trace_sampler            = "parentbased_traceidratio"
  otel_resource_attributes = "service.namespace=${var.project_name},deployment.environment.name=${var.environment}"

  # Timeouts along the request path, each above the one it waits for, so that the innermost bound decides and
  # the caller sees its answer (docs/architecture.md, "Timeouts"):
  #   Bedrock call (AXON_ENGINE_TIMEOUT_SECONDS) < Orbit's wait for Axon (+5 s) < Service Connect's request
  #   timeout (+5 s) < Orbit's whole dispatch (+ governance bound + 1 s) < the ALB idle timeout (+5 s, 60 s at
  #   least); drains (deregistration delay, gunicorn graceful timeout, stopTimeout) cover a whole request.
  # The builtin engine answers at once: Orbit keeps its 5 s default for Axon.
  axon_engine_timeout_seconds = var.axon_engine_timeout_seconds
  orbit_axon_timeout_ms       = var.axon_engine == "bedrock" ? (var.axon_engine_timeout_seconds + 5) * 1000 : 5000
  axon_request_timeout_s      = ceil(local.orbit_axon_timeout_ms / 1000) + 5
  orbit_request_s             = ceil((local.orbit_axon_timeout_ms + var.orbit_governance_timeout_ms) / 1000) + 1
  alb_idle_timeout_s          = max(60, local.orbit_request_s + 5)
  graceful_timeout_s = {
    orbit = local.orbit_request_s + 2
    axon  = ceil(local.orbit_axon_timeout_ms / 1000) + 2
  }
  # Fargate allows at most 120 s (the variables' validations keep the derived values below it).
  stop_timeout_s = { for service, graceful in local.graceful_timeout_s : service => min(120, graceful + 5) }

  orbit_container = {
    name                   = "orbit"
    image                  = "${var.ecr_repository_urls.orbit}:${var.orbit_image_tag}"
    essential              = true
    user                   = local.container_user
    readonlyRootFilesystem = true
    portMappings = [
      { name = "http", containerPort = local.ports.orbit, hostPort = local.ports.orbit, protocol = "tcp", appProtocol = "http" },
    ]
    environment = [
      { name = "PROJECT_NAME", value = var.project_name },
      { name = "AWS_REGION", value = local.region },
      { name = "ORBIT_AXON_URL", value = "http://axon:${local.ports.axon}" },
      # The Host a client's signature must be for (the load balancer's DNS name or the certificate's); empty: any.
      { name = "ORBIT_ALLOWED_HOSTS", value = join(",", var.orbit_allowed_hosts) },
      { name = "ORBIT_AXON_TIMEOUT_MS", value = tostring(local.orbit_axon_timeout_ms) },
      { name = "ORBIT_GOVERNANCE_TIMEOUT_MS", value = tostring(var.orbit_governance_timeout_ms) },
      { name = "ORBIT_GOVERNANCE_FUNCTION", value = "${var.governance_function_name}:${var.governance_alias_name}" },
      { name = "ORBIT_REPLAY_STORE", value = "dynamodb" },
      # The ALB is the one proxy in front of Orbit: its X-Forwarded-For gives the client's source IP.
      { name = "ORBIT_TRUSTED_PROXY_HOPS", value = "1" },
      { name = "PROMETHEUS_MULTIPROC_DIR", value = "/tmp/prometheus" },
      { name = "GUNICORN_WORKERS", value = tostring(max(1, floor(var.orbit.cpu / 1024))) },
      { name = "GUNICORN_GRACEFUL_TIMEOUT", value = tostring(local.graceful_timeout_s.orbit) },
      { name = "OTEL_SERVICE_NAME", value = local.service_names.orbit },
      { name = "OTEL_EXPORTER_OTLP_ENDPOINT", value = local.otlp_endpoint },
      { name = "OTEL_TRACES_SAMPLER", value = local.trace_sampler },
      { name = "OTEL_TRACES_SAMPLER_ARG", value = tostring(var.trace_sampling_ratio) },
      { name = "OTEL_RESOURCE_ATTRIBUTES", value = local.otel_resource_attributes },
    ]
    secrets = [
      { name = "ORBIT_SIGNING_KEY", valueFrom = var.secret_arns.orbit_signing_key },
      # Governance's public key, published at /.well-known/agent-runtime/receipt-keys from the first request on.
      { name = "ORBIT_RECEIPT_PUBLIC_KEY", valueFrom = var.secret_arns.receipt_public_key },
    ]
    dependsOn = [{ containerName = local.collector_name, condition = "START" }]
    mountPoints = [
      { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
    ]
    linuxParameters = {
      initProcessEnabled = true
      capabilities       = { drop = ["ALL"] }
    }
    healthCheck = {
      command     = ["CMD", local.python, "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${local.ports.orbit}/health', timeout=3)"]
      interval    = 15
      timeout     = 5
      retries     = 3
      startPeriod = 30
    }
    stopTimeout = local.stop_timeout_s.orbit
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.service["orbit"].name
        awslogs-region        = local.region
        awslogs-stream-prefix = "orbit"
      }
    }
  }

  axon_container = {
    name                   = "axon"
    image                  = "${var.ecr_repository_urls.axon}:${var.axon_image_tag}"
    essential              = true
    user                   = local.container_user
    readonlyRootFilesystem = true
    portMappings = [
      { name = "http", containerPort = local.ports.axon, hostPort = local.ports.axon, protocol = "tcp", appProtocol = "http" },
    ]
    environment = [
      { name = "PROJECT_NAME", value = var.project_name },
      { name = "AWS_REGION", value = local.region },
      # The Host Orbit signs its calls for: the Service Connect name in ORBIT_AXON_URL. Any other is refused.
      { name = "AXON_ALLOWED_HOSTS", value = "axon:${local.ports.axon}" },
      { name = "AXON_ENGINE", value = var.axon_engine },
      { name = "AXON_BEDROCK_MODEL_ID", value = var.axon_bedrock_model_id },
      { name = "AXON_ENGINE_TIMEOUT_SECONDS", value = tostring(local.axon_engine_timeout_seconds) },
      { name = "AXON_REPLAY_STORE", value = "dynamodb" },
      { name = "PROMETHEUS_MULTIPROC_DIR", value = "/tmp/prometheus" },
      { name = "GUNICORN_WORKERS", value = tostring(max(1, floor(var.axon.cpu / 1024))) },
      { name = "GUNICORN_GRACEFUL_TIMEOUT", value = tostring(local.graceful_timeout_s.axon) },
      { name = "OTEL_SERVICE_NAME", value = local.service_names.axon },
      { name = "OTEL_EXPORTER_OTLP_ENDPOINT", value = local.otlp_endpoint },
      { name = "OTEL_TRACES_SAMPLER", value = local.trace_sampler },
      { name = "OTEL_TRACES_SAMPLER_ARG", value = tostring(var.trace_sampling_ratio) },
      { name = "OTEL_RESOURCE_ATTRIBUTES", value = local.otel_resource_attributes },
    ]
    secrets = [
      { name = "AXON_SIGNING_KEY", valueFrom = var.secret_arns.orbit_signing_key },
      { name = "AXON_RECEIPT_PUBLIC_KEY", valueFrom = var.secret_arns.receipt_public_key },
    ]
    dependsOn = [{ containerName = local.collector_name, condition = "START" }]
    mountPoints = [
      { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
    ]
    linuxParameters = {
      initProcessEnabled = true
      capabilities       = { drop = ["ALL"] }
    }
    healthCheck = {
      command     = ["CMD", local.python, "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${local.ports.axon}/health', timeout=3)"]
      interval    = 15
      timeout     = 5
      retries     = 3
      startPeriod = 30
    }
    stopTimeout = local.stop_timeout_s.axon
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.service["axon"].name
        awslogs-region        = local.region
        awslogs-stream-prefix = "axon"
      }
    }
  }

  containers = {
    orbit = local.orbit_container
    axon  = local.axon_container
  }

  # The ADOT collector sidecar of each task. Not essential: a crashed collector costs spans, never requests (the
  # SDK drops what it cannot export), and its restart policy brings it back without touching the application. The
  # application starts after it and stops before it (dependsOn), so the last spans of a draining task still leave.
  # Sized for a sidecar: a 64-unit CPU share, 128 MiB reserved and 256 MiB at most (AWS's ECS examples give it 256);
  # the memory limiter refuses spans above 200 MiB rather than let the container be killed. Non-root, read-only root
  # filesystem (it writes nothing), no Linux capabilities, listening on 127.0.0.1 only.
  collector_name = "adot-collector"
  collector_ports = {
    otlp_http    = 4318
    health_check = 13133
  }
  collector_config = {
    for service, name in local.service_names : service => yamlencode({
      extensions = { health_check = { endpoint = "127.0.0.1:${local.collector_ports.health_check}" } }
      receivers  = { otlp = { protocols = { http = { endpoint = "127.0.0.1:${local.collector_ports.otlp_http}" } } } }
      processors = {
        memory_limiter = { check_interval = "1s", limit_mib = 200, spike_limit_mib = 50 }
        batch          = { timeout = "1s", send_batch_size = 50 }
      }
      exporters = {
        awsxray = {
          region             = local.region
          indexed_attributes = var.trace_indexed_attributes
          aws_log_groups     = ["/ecs/${name}"]
        }
      }
      service = {
        extensions = ["health_check"]
        pipelines  = { traces = { receivers = ["otlp"], processors = ["memory_limiter", "batch"], exporters = ["awsxray"] } }
        telemetry  = { metrics = { level = "none" } }
      }
    })
  }
  collector_containers = {
    for service, name in local.service_names : service => {
      name                   = local.collector_name
      image                  = var.adot_collector_image
      essential              = false
      user                   = local.container_user
      readonlyRootFilesystem = true
      cpu                    = 64
      memory                 = 256
      memoryReservation      = 128
      environment = [
        { name = "AOT_CONFIG_CONTENT", value = local.collector_config[service] },
        # The Go runtime collects before the container's hard limit, below the memory limiter's ceiling.
        { name = "GOMEMLIMIT", value = "200MiB" },
      ]
      linuxParameters = {
        capabilities = { drop = ["ALL"] }
      }
      # The image's own probe of the health_check extension (127.0.0.1:13133).
      healthCheck = {
        command     = ["CMD", "/healthcheck"]
        interval    = 15
        timeout     = 5
        retries     = 3
        startPeriod = 10
      }
      restartPolicy = {
        enabled              = true
        restartAttemptPeriod = 60
      }
      stopTimeout = 10
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.service[service].name
          awslogs-region        = local.region
          awslogs-stream-prefix = "adot"
        }
      }
    }
  }
  sizes = {
    orbit = var.orbit
    axon  = var.axon
  }
}

resource "aws_ecs_cluster" "this" {
  name = local.cluster_name

  setting {
    name  = "containerInsights"
    value = "enhanced"
  }

  service_connect_defaults {
    namespace = aws_service_discovery_http_namespace.this.arn
  }

  tags = merge(var.tags, { Name = local.cluster_name })
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

# Cloud Map namespace used by Service Connect only (API discovery, no DNS zone).
resource "aws_service_discovery_http_namespace" "this" {
  name        = var.project_name
  description = "Service Connect namespace of ${var.project_name}"

  tags = var.tags
}

resource "aws_cloudwatch_log_group" "service" {
  for_each = local.service_names

  #checkov:skip=CKV_AWS_338:Retention is a variable, 30 days by the specification (1-year archives are an export to S3, see the runbook).
  name              = "/ecs/${each.value}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn

  tags = merge(var.tags, { Service = each.key })
}

resource "aws_cloudwatch_log_group" "service_connect" {
  #checkov:skip=CKV_AWS_338:Retention is a variable, 30 days by the specification (1-year archives are an export to S3, see the runbook).
  name              = "/ecs/${var.project_name}-service-connect"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn

  tags = var.tags
}

resource "aws_ecs_task_definition" "this" {
  for_each = local.service_names

  family                   = each.value
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = local.sizes[each.key].cpu
  memory                   = local.sizes[each.key].memory
  execution_role_arn       = aws_iam_role.execution[each.key].arn
  task_role_arn            = aws_iam_role.task[each.key].arn
  container_definitions    = jsonencode([local.containers[each.key], local.collector_containers[each.key]])

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  # Task-scoped scratch space on the task's ephemeral storage, mounted at /tmp (the root filesystem is read-only).
  volume {
    name = "tmp"
  }

  tags = merge(var.tags, { Name = each.value, Service = each.key })
}

resource "aws_ecs_service" "axon" {
  name                               = local.service_names.axon
  cluster                            = aws_ecs_cluster.this.id
  task_definition                    = aws_ecs_task_definition.this["axon"].arn
  desired_count                      = var.axon.min_capacity
  launch_type                        = "FARGATE"
  platform_version                   = "LATEST"
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"
  enable_execute_command             = false

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.axon_subnet_ids
    security_groups  = [aws_security_group.axon.id]
    assign_public_ip = false
  }

  service_connect_configuration {
    enabled   = true
    namespace = aws_service_discovery_http_namespace.this.arn

    service {
      port_name      = "http"
      discovery_name = "axon"

      client_alias {
        dns_name = "axon"
        port     = local.ports.axon
      }

      # Service Connect's proxy ends an HTTP request after 15 s by default: above Orbit's own wait, so that a slow
      # Bedrock answer is Orbit's timeout (and Orbit's decision), not the proxy's.
      timeout {
        per_request_timeout_seconds = local.axon_request_timeout_s
      }
    }

    log_configuration {
      log_driver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.service_connect.name
        awslogs-region        = local.region
        awslogs-stream-prefix = "axon"
      }
    }
  }

  lifecycle {
    # Application Auto Scaling owns the running count once the service exists.
    ignore_changes = [desired_count]
  }

  tags = merge(var.tags, { Name = local.service_names.axon, Service = "axon" })
}

resource "aws_ecs_service" "orbit" {
  name                               = local.service_names.orbit
  cluster                            = aws_ecs_cluster.this.id
  task_definition                    = aws_ecs_task_definition.this["orbit"].arn
  desired_count                      = var.orbit.min_capacity
  launch_type                        = "FARGATE"
  platform_version                   = "LATEST"
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = 60
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"
  enable_execute_command             = false

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.orbit.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.orbit.arn
    container_name   = "orbit"
    container_port   = local.ports.orbit
  }

  # Client only: Orbit resolves http://axon:8081 through its Service Connect proxy.
  service_connect_configuration {
    enabled   = true
    namespace = aws_service_discovery_http_namespace.this.arn

    log_configuration {
      log_driver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.service_connect.name
        awslogs-region        = local.region
        awslogs-stream-prefix = "orbit"
      }
    }
  }

  lifecycle {
    ignore_changes = [desired_count]
  }

  tags = merge(var.tags, { Name = local.service_names.orbit, Service = "orbit" })

  # The Axon endpoint must exist in the namespace before Orbit's tasks start (Service Connect resolves at start).
  depends_on = [aws_ecs_service.axon, aws_lb_listener_rule.orbit_public_paths]
}
