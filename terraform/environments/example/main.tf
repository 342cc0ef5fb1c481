# An example Tributary environment on AWS: a 3-node RabbitMQ cluster on dedicated instances,
# an autoscaling worker fleet, PostgreSQL on RDS, and a monitoring host running Tributary's
# Prometheus rules. The settings and configuration files come from ops/, so what is tested
# there is what runs here. Schedulers and queue-admin run on hosts of your choice with the
# units in ops/systemd (or on Kubernetes with ops/k8s); give them the clients security group.

locals {
  name    = "tributary-${var.environment}"
  ops_dir = "${path.root}/../../../ops"
}

# Every Tributary process carries this group; the broker and the database let it in.
resource "aws_security_group" "clients" {
  name_prefix = "${local.name}-clients-"
  description = "Tributary processes (workers, schedulers, queue-admin)"
  vpc_id      = var.vpc_id

  lifecycle {
    create_before_destroy = true
  }
}

module "monitoring" {
  source = "../../modules/monitoring"

  name                 = local.name
  vpc_id               = var.vpc_id
  subnet_id            = var.private_subnet_ids[0]
  ami_id               = var.debian_ami_id
  operator_cidr_blocks = var.operator_cidr_blocks
  alertmanager_config  = var.alertmanager_config
  rule_files = {
    for file_name in fileset("${local.ops_dir}/prometheus/rules", "*.yml") :
    file_name => file("${local.ops_dir}/prometheus/rules/${file_name}")
  }
}

module "rabbitmq" {
  source = "../../modules/rabbitmq-cluster"

  name                          = local.name
  vpc_id                        = var.vpc_id
  subnet_ids                    = var.private_subnet_ids
  ami_id                        = var.debian_ami_id
  route53_zone_id               = var.route53_zone_id
  tls_secret_arn                = var.rabbitmq_tls_secret_arn
  rabbitmq_conf                 = file("${local.ops_dir}/rabbitmq/production/rabbitmq.conf")
  definitions_json              = file("${local.ops_dir}/rabbitmq/definitions.json")
  client_security_group_ids     = [aws_security_group.clients.id]
  monitoring_security_group_ids = [module.monitoring.security_group_id, aws_security_group.clients.id]
}

module "postgresql" {
  source = "../../modules/postgresql"

  name                      = local.name
  vpc_id                    = var.vpc_id
  subnet_ids                = var.private_subnet_ids
  client_security_group_ids = [aws_security_group.clients.id]
  # An example: easy to tear down. Production keeps the defaults (true).
  deletion_protection = false
}

module "workers" {
  source = "../../modules/worker-fleet"

  name                          = local.name
  vpc_id                        = var.vpc_id
  subnet_ids                    = var.private_subnet_ids
  ami_id                        = var.debian_ami_id
  max_size                      = var.worker_max_size
  artifact_s3_uri               = var.release_s3_uri
  environment_secret_arn        = var.worker_environment_secret_arn
  extra_security_group_ids      = [aws_security_group.clients.id]
  monitoring_security_group_ids = [module.monitoring.security_group_id]
  queue_depth_metric            = module.monitoring.queue_depth_metric
  systemd_unit                  = file("${local.ops_dir}/systemd/tributary-worker.service")
  settings_toml = templatefile("${path.module}/tributary.toml.tftpl", {
    management_url = module.rabbitmq.management_url
  })
}
