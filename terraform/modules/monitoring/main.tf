# Monitoring for Tributary: one host with Prometheus (Tributary's rules, EC2 service discovery
# of every instance tagged tributary-scrape = <job>) and Alertmanager, from the OS packages.
# It also publishes the work queues' summed depth (from queue-admin's gauge, through the
# recording rule) to CloudWatch every minute: the worker fleet autoscales on it.

locals {
  tags = merge(var.tags, { "tributary:component" = "monitoring" })
}

resource "aws_security_group" "monitoring" {
  name_prefix = "${var.name}-monitoring-"
  description = "Prometheus of ${var.name}: allow it on every scrape target"
  vpc_id      = var.vpc_id
  tags        = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "operators" {
  for_each = {
    for pair in setproduct(var.operator_cidr_blocks, [9090, 9093]) :
    "${pair[0]}-${pair[1]}" => { cidr = pair[0], port = pair[1] }
  }

  security_group_id = aws_security_group.monitoring.id
  cidr_ipv4         = each.value.cidr
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  description       = each.value.port == 9090 ? "Prometheus UI" : "Alertmanager UI"
}

resource "aws_vpc_security_group_egress_rule" "all" {
  security_group_id = aws_security_group.monitoring.id
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
  description       = "Scrapes, AWS APIs, notifications"
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

data "aws_iam_policy_document" "monitoring" {
  statement {
    sid       = "ServiceDiscovery"
    actions   = ["ec2:DescribeInstances", "ec2:DescribeAvailabilityZones"]
    resources = ["*"]
  }
  statement {
    sid       = "PublishQueueDepth"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [var.queue_depth_namespace]
    }
  }
}

resource "aws_iam_role" "monitoring" {
  name_prefix        = "${var.name}-monitoring-"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = local.tags
}

resource "aws_iam_role_policy" "monitoring" {
  name   = "monitoring"
  role   = aws_iam_role.monitoring.id
  policy = data.aws_iam_policy_document.monitoring.json
}

resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.monitoring.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "monitoring" {
  name_prefix = "${var.name}-monitoring-"
  role        = aws_iam_role.monitoring.name
}

data "aws_region" "current" {}

resource "aws_instance" "monitoring" {
  ami                    = var.ami_id
  instance_type          = var.instance_type
  subnet_id              = var.subnet_id
  vpc_security_group_ids = [aws_security_group.monitoring.id]
  iam_instance_profile   = aws_iam_instance_profile.monitoring.name

  metadata_options {
    http_tokens = "required"
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = var.data_volume_size_gb
    encrypted   = true
  }

  user_data = templatefile("${path.module}/templates/cloud-init.yaml.tftpl", {
    region              = data.aws_region.current.name
    fleet               = var.name
    retention_days      = var.retention_days
    rule_files          = var.rule_files
    alertmanager_config = var.alertmanager_config
    scrape_ports        = var.scrape_ports
    namespace           = var.queue_depth_namespace
    queue_prefix        = var.queue_prefix
  })
  user_data_replace_on_change = true

  tags = merge(local.tags, { Name = "${var.name}-monitoring" })
}
