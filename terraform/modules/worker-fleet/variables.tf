variable "name" {
  description = "Name prefix of every resource (e.g. \"tributary-prod\")."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2-31 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "vpc_id" {
  description = "VPC the workers run in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets the workers spread over (with egress to the sources' APIs)."
  type        = list(string)
}

variable "ami_id" {
  description = "AMI of the workers: Debian 12 or another systemd distribution, matching instance_type's architecture."
  type        = string
}

variable "instance_type" {
  description = "EC2 instance type. A worker is I/O bound (sources, broker, database): 2 vCPUs run worker.concurrency = 32 jobs comfortably."
  type        = string
  default     = "c7g.large"
}

variable "min_size" {
  description = "Fewest workers, also when every queue is empty (at least 2: one may be replaced at any time)."
  type        = number
  default     = 2

  validation {
    condition     = var.min_size >= 1
    error_message = "min_size must be at least 1."
  }
}

variable "max_size" {
  description = "Most workers. Sources' rate limits cap useful parallelism: more workers than the budgets allow only wait."
  type        = number
  default     = 20

  validation {
    condition     = var.max_size >= 1 && var.max_size <= 500
    error_message = "max_size must be between 1 and 500."
  }
}

variable "ready_messages_per_worker" {
  description = "Autoscaling target: ready messages on the work queues per running worker. Scales out above it, in below it."
  type        = number
  default     = 200

  validation {
    condition     = var.ready_messages_per_worker > 0
    error_message = "ready_messages_per_worker must be positive."
  }
}

variable "queue_depth_metric" {
  description = "CloudWatch metric holding the ready messages of every work queue, summed: published every minute by the monitoring module from queue-admin's tributary_queue_messages_ready."
  type = object({
    namespace   = string
    metric_name = string
    dimensions  = map(string)
  })
}

variable "artifact_s3_uri" {
  description = "S3 URI of the release tarball (bin/tributary-worker, bin/tributary-scheduler, bin/queue-admin), e.g. s3://releases/tributary-0.1.0-aarch64.tar.gz."
  type        = string

  validation {
    condition     = startswith(var.artifact_s3_uri, "s3://")
    error_message = "artifact_s3_uri must be an s3:// URI."
  }
}

variable "settings_toml" {
  description = "Contents of /etc/tributary/tributary.toml (see ops/systemd/tributary.toml). Secrets do not belong here."
  type        = string
}

variable "systemd_unit" {
  description = "Contents of the worker's unit, normally file(\"ops/systemd/tributary-worker.service\")."
  type        = string
}

variable "environment_secret_arn" {
  description = "Secrets Manager secret whose JSON object becomes /etc/tributary/tributary.env: TRIBUTARY_AMQP__URL, TRIBUTARY_DATABASE__URL, the sources' credentials."
  type        = string
}

variable "shutdown_grace_seconds" {
  description = "worker.shutdown_grace_seconds of settings_toml. Scale-in waits this plus a margin (a lifecycle hook) so a worker drains before its instance ends."
  type        = number
  default     = 25
}

variable "extra_security_group_ids" {
  description = "More security groups for the workers."
  type        = list(string)
  default     = []
}

variable "monitoring_security_group_ids" {
  description = "Security groups allowed to scrape the workers' /metrics (9090)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
