# A RabbitMQ cluster on dedicated EC2 instances: node_count nodes spread over the subnets'
# availability zones, each with its own encrypted gp3 data volume, clustered by classic
# config peer discovery (fixed names in a private zone), TLS only, the Erlang cookie generated
# here and kept in Secrets Manager. Tributary's queues are quorum queues, replicated on every
# node: one node (of three) can fail or be replaced without losing a message.

data "aws_route53_zone" "private" {
  zone_id = var.route53_zone_id
}

locals {
  nodes     = [for index in range(var.node_count) : "${var.name}-mq-${index + 1}"]
  zone_name = trimsuffix(data.aws_route53_zone.private.name, ".")
  # The config names nodes rabbit@mq-<n>; here they are rabbit@<name>-mq-<n>.<zone> (long
  # names: see rabbitmq-env.conf in the cloud-init template).
  rabbitmq_conf = replace(var.rabbitmq_conf, "/rabbit@mq-([0-9]+)/", "rabbit@${var.name}-mq-$1.${local.zone_name}")
  tags          = merge(var.tags, { "tributary:component" = "rabbitmq" })
}

resource "random_password" "erlang_cookie" {
  length  = 48
  special = false
}

resource "aws_secretsmanager_secret" "erlang_cookie" {
  name_prefix = "${var.name}-rabbitmq-erlang-cookie-"
  description = "Erlang cookie shared by the ${var.name} RabbitMQ nodes."
  tags        = local.tags
}

resource "aws_secretsmanager_secret_version" "erlang_cookie" {
  secret_id     = aws_secretsmanager_secret.erlang_cookie.id
  secret_string = random_password.erlang_cookie.result
}

resource "aws_security_group" "rabbitmq" {
  name_prefix = "${var.name}-rabbitmq-"
  description = "RabbitMQ nodes of ${var.name}"
  vpc_id      = var.vpc_id
  tags        = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

# Node to node: epmd, Erlang distribution, CLI tools.
resource "aws_vpc_security_group_ingress_rule" "cluster" {
  for_each = { epmd = 4369, distribution = 25672, cli = 35672 }

  security_group_id            = aws_security_group.rabbitmq.id
  referenced_security_group_id = aws_security_group.rabbitmq.id
  ip_protocol                  = "tcp"
  from_port                    = each.value
  to_port                      = each.value
  description                  = "RabbitMQ ${each.key} between nodes"
}

resource "aws_vpc_security_group_ingress_rule" "amqps" {
  for_each = toset(var.client_security_group_ids)

  security_group_id            = aws_security_group.rabbitmq.id
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 5671
  to_port                      = 5671
  description                  = "AMQPS from Tributary processes"
}

resource "aws_vpc_security_group_ingress_rule" "monitoring" {
  for_each = {
    for pair in setproduct(var.monitoring_security_group_ids, [15671, 15692]) :
    "${pair[0]}-${pair[1]}" => { group = pair[0], port = pair[1] }
  }

  security_group_id            = aws_security_group.rabbitmq.id
  referenced_security_group_id = each.value.group
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  description                  = each.value.port == 15692 ? "Prometheus metrics" : "Management API"
}

resource "aws_vpc_security_group_egress_rule" "all" {
  security_group_id = aws_security_group.rabbitmq.id
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
  description       = "Packages, Secrets Manager, peers"
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

data "aws_iam_policy_document" "node" {
  statement {
    sid       = "ReadClusterSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.erlang_cookie.arn, var.tls_secret_arn]
  }
}

resource "aws_iam_role" "node" {
  name_prefix        = "${var.name}-rabbitmq-"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
  tags               = local.tags
}

resource "aws_iam_role_policy" "node" {
  name   = "cluster-secrets"
  role   = aws_iam_role.node.id
  policy = data.aws_iam_policy_document.node.json
}

resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.node.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "node" {
  name_prefix = "${var.name}-rabbitmq-"
  role        = aws_iam_role.node.name
}

resource "aws_instance" "node" {
  count = var.node_count

  ami                    = var.ami_id
  instance_type          = var.instance_type
  subnet_id              = var.subnet_ids[count.index % length(var.subnet_ids)]
  vpc_security_group_ids = [aws_security_group.rabbitmq.id]
  iam_instance_profile   = aws_iam_instance_profile.node.name
  ebs_optimized          = true

  metadata_options {
    http_tokens = "required"
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = 20
    encrypted   = true
  }

  user_data_replace_on_change = false
  user_data = templatefile("${path.module}/templates/cloud-init.yaml.tftpl", {
    hostname         = local.nodes[count.index]
    fqdn             = "${local.nodes[count.index]}.${local.zone_name}"
    first_node       = count.index == 0
    cookie_secret    = aws_secretsmanager_secret.erlang_cookie.arn
    tls_secret       = var.tls_secret_arn
    broker_conf      = local.rabbitmq_conf
    definitions_json = var.definitions_json
    peers            = [for node in local.nodes : "${node}.${local.zone_name}"]
  })

  tags = merge(local.tags, {
    Name               = local.nodes[count.index]
    "tributary-scrape" = "rabbitmq"
  })

  lifecycle {
    # A node is replaced by hand, one at a time, after checking the cluster (runbooks); never
    # by a changed AMI or user data in a routine apply.
    ignore_changes = [ami, user_data]
  }
}

resource "aws_ebs_volume" "data" {
  count = var.node_count

  availability_zone = aws_instance.node[count.index].availability_zone
  type              = "gp3"
  size              = var.data_volume_size_gb
  iops              = var.data_volume_iops
  encrypted         = true
  tags              = merge(local.tags, { Name = "${local.nodes[count.index]}-data" })
}

resource "aws_volume_attachment" "data" {
  count = var.node_count

  device_name = "/dev/sdf"
  volume_id   = aws_ebs_volume.data[count.index].id
  instance_id = aws_instance.node[count.index].id
}

resource "aws_route53_record" "node" {
  count = var.node_count

  zone_id = var.route53_zone_id
  name    = "${local.nodes[count.index]}.${local.zone_name}"
  type    = "A"
  ttl     = 60
  records = [aws_instance.node[count.index].private_ip]
}

# Clients connect to any node: the name resolves to all of them.
resource "aws_route53_record" "cluster" {
  zone_id = var.route53_zone_id
  name    = "${var.name}-mq.${local.zone_name}"
  type    = "A"
  ttl     = 60
  records = aws_instance.node[*].private_ip
}
