# The worker fleet: an Auto Scaling group of identical, stateless workers (systemd unit from
# ops/systemd) that scales on queue depth — a target of ready messages per worker, computed in
# CloudWatch from the work queues' depth (published by the monitoring module) and the
# group's in-service instances. Scale-in waits for the worker to drain: a lifecycle hook holds
# the instance while systemd stops the worker (SIGTERM, shutdown_grace_seconds).

locals {
  tags = merge(var.tags, { "tributary:component" = "worker" })
}

resource "aws_security_group" "worker" {
  name_prefix = "${var.name}-worker-"
  description = "Tributary workers of ${var.name}"
  vpc_id      = var.vpc_id
  tags        = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "metrics" {
  for_each = toset(var.monitoring_security_group_ids)

  security_group_id            = aws_security_group.worker.id
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 9090
  to_port                      = 9090
  description                  = "Prometheus scrapes /metrics"
}

resource "aws_vpc_security_group_egress_rule" "all" {
  security_group_id = aws_security_group.worker.id
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
  description       = "Sources' APIs, the broker, the database"
}

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "worker" {
  statement {
    sid       = "ReadEnvironment"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.environment_secret_arn]
  }
  statement {
    sid       = "ReadRelease"
    actions   = ["s3:GetObject"]
    resources = ["arn:aws:s3:::${trimprefix(var.artifact_s3_uri, "s3://")}"]
  }
  statement {
    sid       = "FindGroup"
    actions   = ["autoscaling:DescribeAutoScalingInstances"]
    resources = ["*"]
  }
  statement {
    sid       = "FinishDrain"
    actions   = ["autoscaling:CompleteLifecycleAction"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "autoscaling:ResourceTag/tributary:fleet"
      values   = [var.name]
    }
  }
}

resource "aws_iam_role" "worker" {
  name_prefix        = "${var.name}-worker-"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = local.tags
}

resource "aws_iam_role_policy" "worker" {
  name   = "worker"
  role   = aws_iam_role.worker.id
  policy = data.aws_iam_policy_document.worker.json
}

resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.worker.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "worker" {
  name_prefix = "${var.name}-worker-"
  role        = aws_iam_role.worker.name
}

resource "aws_launch_template" "worker" {
  name_prefix            = "${var.name}-worker-"
  image_id               = var.ami_id
  instance_type          = var.instance_type
  vpc_security_group_ids = concat([aws_security_group.worker.id], var.extra_security_group_ids)
  update_default_version = true

  iam_instance_profile {
    arn = aws_iam_instance_profile.worker.arn
  }

  metadata_options {
    http_tokens = "required"
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_type = "gp3"
      volume_size = 20
      encrypted   = true
    }
  }

  user_data = base64encode(templatefile("${path.module}/templates/cloud-init.yaml.tftpl", {
    artifact_s3_uri        = var.artifact_s3_uri
    settings_toml          = var.settings_toml
    systemd_unit           = var.systemd_unit
    environment_secret_arn = var.environment_secret_arn
  }))

  tag_specifications {
    resource_type = "instance"
    tags = merge(local.tags, {
      Name               = "${var.name}-worker"
      "tributary-scrape" = "tributary-worker"
    })
  }

  tags = local.tags
}

resource "aws_autoscaling_group" "worker" {
  name_prefix         = "${var.name}-worker-"
  min_size            = var.min_size
  max_size            = var.max_size
  vpc_zone_identifier = var.subnet_ids
  health_check_type   = "EC2"
  # GroupInServiceInstances feeds the per-worker backlog below.
  enabled_metrics = ["GroupInServiceInstances"]

  launch_template {
    id      = aws_launch_template.worker.id
    version = aws_launch_template.worker.latest_version
  }

  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 75
    }
  }

  # Scale-in: hold the instance while its worker drains. A watcher on the instance (see the
  # cloud-init template) stops the unit (SIGTERM: in-flight jobs finish within
  # shutdown_grace_seconds, acks settle) and completes the action; the timeout is the backstop.
  initial_lifecycle_hook {
    name                 = "drain"
    lifecycle_transition = "autoscaling:EC2_INSTANCE_TERMINATING"
    default_result       = "CONTINUE"
    heartbeat_timeout    = var.shutdown_grace_seconds + 35
  }

  tag {
    key                 = "tributary:fleet"
    value               = var.name
    propagate_at_launch = true
  }

  dynamic "tag" {
    for_each = local.tags
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    # The scaling policy owns the size.
    ignore_changes = [desired_capacity]
  }
}

# Target tracking on ready messages per worker: ready / in-service instances.
resource "aws_autoscaling_policy" "queue_depth" {
  name                      = "ready-messages-per-worker"
  autoscaling_group_name    = aws_autoscaling_group.worker.name
  policy_type               = "TargetTrackingScaling"
  estimated_instance_warmup = 120

  target_tracking_configuration {
    target_value = var.ready_messages_per_worker

    customized_metric_specification {
      metrics {
        id          = "ready"
        label       = "Ready messages on the work queues"
        return_data = false
        metric_stat {
          stat = "Maximum"
          metric {
            namespace   = var.queue_depth_metric.namespace
            metric_name = var.queue_depth_metric.metric_name
            dynamic "dimensions" {
              for_each = var.queue_depth_metric.dimensions
              content {
                name  = dimensions.key
                value = dimensions.value
              }
            }
          }
        }
      }

      metrics {
        id          = "workers"
        label       = "Workers in service"
        return_data = false
        metric_stat {
          stat = "Average"
          metric {
            namespace   = "AWS/AutoScaling"
            metric_name = "GroupInServiceInstances"
            dimensions {
              name  = "AutoScalingGroupName"
              value = aws_autoscaling_group.worker.name
            }
          }
        }
      }

      metrics {
        id          = "per_worker"
        label       = "Ready messages per worker"
        expression  = "ready / IF(workers > 0, workers, 1)"
        return_data = true
      }
    }
  }
}
