variable "name" {
  description = "Name prefix of every resource (e.g. \"tributary-prod\"). Node host names are <name>-mq-1..3."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2-31 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "vpc_id" {
  description = "VPC the cluster runs in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets, one per availability zone; node i goes to subnet i mod len (three AZs survive an AZ loss: quorum queues keep a majority)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 1
    error_message = "At least one subnet is required; three (one per AZ) is the point."
  }
}

variable "node_count" {
  description = "Cluster nodes. Quorum queues need a majority: 3 tolerates one node down, 5 tolerates two."
  type        = number
  default     = 3

  validation {
    condition     = contains([3, 5], var.node_count)
    error_message = "node_count must be 3 or 5 (an odd number, for quorum queues' majorities)."
  }
}

variable "instance_type" {
  description = "EC2 instance type of a node. Memory-optimised: the memory alarm sits at half the RAM (ops/rabbitmq/production/rabbitmq.conf)."
  type        = string
  default     = "r6g.large"
}

variable "ami_id" {
  description = "AMI of the nodes: Debian 12 (bookworm), matching instance_type's architecture. RabbitMQ comes from the OS packages."
  type        = string
}

variable "data_volume_size_gb" {
  description = "Size of each node's data volume (/var/lib/rabbitmq), in GiB. Keep it well above disk_free_limit (1.5 x RAM) plus the deepest backlog you plan for."
  type        = number
  default     = 100

  validation {
    condition     = var.data_volume_size_gb >= 20 && var.data_volume_size_gb <= 16384
    error_message = "data_volume_size_gb must be between 20 and 16384."
  }
}

variable "data_volume_iops" {
  description = "Provisioned IOPS of each gp3 data volume (quorum queues fsync their log)."
  type        = number
  default     = 6000

  validation {
    condition     = var.data_volume_iops >= 3000 && var.data_volume_iops <= 16000
    error_message = "gp3 volumes take 3000 to 16000 IOPS."
  }
}

variable "rabbitmq_conf" {
  description = "Contents of /etc/rabbitmq/rabbitmq.conf, normally file(\"ops/rabbitmq/production/rabbitmq.conf\"). Its classic_config node names rabbit@mq-<n> are rewritten to the nodes' real names, rabbit@<name>-mq-<n>.<zone>."
  type        = string
}

variable "definitions_json" {
  description = "Contents of ops/rabbitmq/definitions.json (the topology the workers declare), imported on the first node so the scheduler can publish before any worker starts."
  type        = string
}

variable "client_security_group_ids" {
  description = "Security groups allowed to connect over AMQPS (5671): workers, schedulers, queue-admin."
  type        = list(string)
  default     = []
}

variable "monitoring_security_group_ids" {
  description = "Security groups allowed to scrape /metrics (15692) and reach the management API (15671): Prometheus, queue-admin, KEDA."
  type        = list(string)
  default     = []
}

variable "route53_zone_id" {
  description = "Private hosted zone for the nodes' names (<name>-mq-<n>.<zone>) and a round-robin name <name>-mq.<zone> for clients."
  type        = string
}

variable "tls_secret_arn" {
  description = "Secrets Manager secret holding the nodes' TLS material as JSON {\"ca\": ..., \"cert\": ..., \"key\": ...} (PEM): a certificate valid for every node name and the round-robin name."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
