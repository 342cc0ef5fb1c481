variable "name" {
  description = "Name prefix of every resource (e.g. \"tributary-prod\")."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2-31 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "vpc_id" {
  description = "VPC the monitoring host runs in."
  type        = string
}

variable "subnet_id" {
  description = "Private subnet of the monitoring host."
  type        = string
}

variable "ami_id" {
  description = "AMI of the monitoring host: Debian 12 (Prometheus and Alertmanager come from its packages)."
  type        = string
}

variable "instance_type" {
  description = "EC2 instance type of the monitoring host."
  type        = string
  default     = "t4g.medium"
}

variable "data_volume_size_gb" {
  description = "Prometheus' storage, GiB."
  type        = number
  default     = 100
}

variable "retention_days" {
  description = "Days Prometheus keeps samples (reconciliation alerts look back one day; dashboards a week)."
  type        = number
  default     = 30

  validation {
    condition     = var.retention_days >= 2
    error_message = "retention_days must be at least 2: TributaryReconcileDrift looks back one day."
  }
}

variable "rule_files" {
  description = "Prometheus rule files by file name, normally the contents of ops/prometheus/rules/*.yml."
  type        = map(string)

  validation {
    condition     = length(var.rule_files) > 0
    error_message = "At least one rule file (the alerts) is expected."
  }
}

variable "alertmanager_config" {
  description = "Contents of alertmanager.yml: where pages (severity=critical) and tickets (severity=warning) go."
  type        = string
  sensitive   = true
}

variable "queue_depth_namespace" {
  description = "CloudWatch namespace the host publishes the work queues' summed depth to, every minute, for the worker fleet's autoscaling."
  type        = string
  default     = "Tributary"
}

variable "queue_prefix" {
  description = "Tributary's amqp.prefix: the depth published is that of <prefix>.work.* queues."
  type        = string
  default     = "tributary"
}

variable "scrape_ports" {
  description = "Port of /metrics by the value of an instance's tributary-scrape tag (the Prometheus job name)."
  type        = map(number)
  default = {
    "tributary-worker"      = 9090
    "tributary-scheduler"   = 9290
    "tributary-queue-admin" = 9190
    "rabbitmq"              = 15692
  }
}

variable "operator_cidr_blocks" {
  description = "Networks allowed to reach Prometheus (9090) and Alertmanager (9093), e.g. the VPN."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
