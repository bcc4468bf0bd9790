# Internal Application Load Balancer in the private subnets: HTTPS listener (TLS 1.2+, certificate from ACM)
# forwarding Orbit's public paths to Orbit, HTTP listener that only redirects to HTTPS, access logs to a dedicated
# S3 bucket.

locals {
  # The only paths the load balancer forwards (exact matches). Anything else, /metrics first of all, is answered
  # 404 by the load balancer itself: Prometheus scrapes each task on its own address inside the VPC, and no
  # encoding, case or trailing-slash variant of a hidden path can reach Orbit. A new public route of Orbit is added
  # here too (tests/infra/test_exposure.py compares this list with Orbit's routes).
  orbit_public_paths = ["/dispatch", "/health", "/mcp", "/.well-known/agent-runtime/receipt-keys"]
}

resource "aws_lb" "this" {
  # The load balancer is internal (no internet-facing listener); requests are authenticated by SigV4 in Orbit and rate limited by Governance.
  name                       = "${var.project_name}-alb"
  internal                   = true
  load_balancer_type         = "application"
  subnets                    = var.private_subnet_ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  desync_mitigation_mode     = "defensive"
  enable_deletion_protection = var.deletion_protection
  idle_timeout               = local.alb_idle_timeout_s

  access_logs {
    bucket  = aws_s3_bucket.access_logs.id
    prefix  = "alb"
    enabled = true
  }

  tags = merge(var.tags, { Name = "${var.project_name}-alb" })

  depends_on = [aws_s3_bucket_policy.access_logs]
}

resource "aws_lb_target_group" "orbit" {
  #checkov:skip=CKV_AWS_378:TLS terminates at the internal ALB (HTTPS listener only); the hop to Orbit stays inside the private subnets, where only the ALB's security group may reach Orbit, and every request carries a SigV4 signature.
  name                 = "${var.project_name}-orbit"
  port                 = local.ports.orbit
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = local.orbit_request_s + 5

  health_check {
    enabled             = true
    path                = "/health"
    protocol            = "HTTP"
    port                = "traffic-port"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = merge(var.tags, { Name = "${var.project_name}-orbit" })
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  # Not one of Orbit's public paths: a JSON 404 in the shape of Orbit's errors, without reaching Orbit.
  default_action {
    type = "fixed-response"

    fixed_response {
      content_type = "application/json"
      message_body = jsonencode({ error = "Not found", code = "NOT_FOUND" })
      status_code  = "404"
    }
  }

  tags = var.tags
}

resource "aws_lb_listener_rule" "orbit_public_paths" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 10

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.orbit.arn
  }

  condition {
    path_pattern {
      values = local.orbit_public_paths
    }
  }

  tags = var.tags
}

resource "aws_lb_listener" "http_redirect" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }

  tags = var.tags
}

# Access logs --------------------------------------------------------------------------------------------------

data "aws_elb_service_account" "this" {}

resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_18:This bucket is the access-log destination itself; logging it to another bucket would only move the question.
  #checkov:skip=CKV_AWS_144:Access logs are diagnostic data kept for a year in one region; cross-region replication is not worth its cost here.
  #checkov:skip=CKV_AWS_145:ALB access logs can only be delivered to buckets encrypted with SSE-S3, not SSE-KMS.
  #checkov:skip=CKV2_AWS_62:Nothing consumes events of new access-log objects.
  bucket        = "${var.project_name}-alb-logs-${local.account_id}"
  force_destroy = !var.deletion_protection

  tags = merge(var.tags, { Name = "${var.project_name}-alb-logs-${local.account_id}" })
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket                  = aws_s3_bucket.access_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.access_log_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 7
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "access_logs" {
  statement {
    sid       = "ElbLogDeliveryLegacyRegions"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs.arn}/alb/AWSLogs/${local.account_id}/*"]

    principals {
      type        = "AWS"
      identifiers = [data.aws_elb_service_account.this.arn]
    }
  }

  statement {
    sid       = "ElbLogDelivery"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs.arn}/alb/AWSLogs/${local.account_id}/*"]

    principals {
      type        = "Service"
      identifiers = ["logdelivery.elasticloadbalancing.amazonaws.com"]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.access_logs.arn, "${aws_s3_bucket.access_logs.arn}/*"]

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

resource "aws_s3_bucket_policy" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  policy = data.aws_iam_policy_document.access_logs.json

  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}
