# PostgreSQL for Tributary, managed (RDS): the system of record (job ledger, checkpoints,
# records, dead letters, schedules, audit log). Encrypted, Multi-AZ, TLS required, the master
# password generated and rotated by RDS in Secrets Manager. Tributary's own role and database
# are created by the operator once (see the example environment's README); migrations run with
# `tributary-worker migrate` on deploy.

locals {
  tags   = merge(var.tags, { "tributary:component" = "postgresql" })
  family = "postgres${split(".", var.engine_version)[0]}"
}

resource "aws_db_subnet_group" "this" {
  name_prefix = "${var.name}-"
  subnet_ids  = var.subnet_ids
  tags        = local.tags
}

resource "aws_security_group" "postgresql" {
  name_prefix = "${var.name}-postgresql-"
  description = "PostgreSQL of ${var.name}"
  vpc_id      = var.vpc_id
  tags        = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "clients" {
  for_each = toset(var.client_security_group_ids)

  security_group_id            = aws_security_group.postgresql.id
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  description                  = "PostgreSQL from Tributary processes"
}

resource "aws_db_parameter_group" "this" {
  name_prefix = "${var.name}-"
  family      = local.family
  description = "Tributary on ${local.family}"
  tags        = local.tags

  # Clients connect with sslmode=verify-full; refuse anything else.
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name         = "max_connections"
    value        = tostring(var.max_connections)
    apply_method = "pending-reboot"
  }

  # Page commits upsert in batches and dead-letter search uses GIN: give autovacuum room to
  # keep up with the ledger's churn.
  parameter {
    name  = "autovacuum_vacuum_scale_factor"
    value = "0.05"
  }

  # Log statements slower than a second: the hot path has none.
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_db_instance" "this" {
  identifier_prefix = "${var.name}-"
  engine            = "postgres"
  engine_version    = var.engine_version
  instance_class    = var.instance_class

  allocated_storage     = var.allocated_storage_gb
  max_allocated_storage = var.max_allocated_storage_gb
  storage_type          = "gp3"
  storage_encrypted     = true

  db_name                     = "tributary"
  username                    = "postgres_admin"
  manage_master_user_password = true

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.postgresql.id]
  parameter_group_name   = aws_db_parameter_group.this.name
  publicly_accessible    = false
  multi_az               = var.multi_az

  backup_retention_period    = var.backup_retention_days
  backup_window              = "02:00-03:00"
  maintenance_window         = "sun:03:30-sun:04:30"
  auto_minor_version_upgrade = true
  copy_tags_to_snapshot      = true
  deletion_protection        = var.deletion_protection
  skip_final_snapshot        = false
  final_snapshot_identifier  = "${var.name}-final"

  performance_insights_enabled          = true
  performance_insights_retention_period = 7
  monitoring_interval                   = 0
  enabled_cloudwatch_logs_exports       = ["postgresql"]

  tags = local.tags
}
