variable "region" {
  description = "AWS region of the environment."
  type        = string
  default     = "eu-central-1"
}

variable "environment" {
  description = "Environment name, part of every resource name (tributary-<environment>)."
  type        = string
  default     = "example"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.environment))
    error_message = "environment must be 2-21 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "vpc_id" {
  description = "Existing VPC to deploy into."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets with NAT egress, one per availability zone (three for the RabbitMQ cluster to survive an AZ loss)."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 2
    error_message = "At least two private subnets (RDS requires two AZs; three is better)."
  }
}

variable "route53_zone_id" {
  description = "Private hosted zone for the broker nodes' names."
  type        = string
}

variable "debian_ami_id" {
  description = "Debian 12 AMI (arm64, for the Graviton instance types below) for the broker, worker and monitoring hosts."
  type        = string
}

variable "rabbitmq_tls_secret_arn" {
  description = "Secrets Manager secret with the broker's TLS material, JSON {\"ca\", \"cert\", \"key\"} (PEM)."
  type        = string
}

variable "worker_environment_secret_arn" {
  description = "Secrets Manager secret, a JSON object of the workers' secret variables: TRIBUTARY_AMQP__URL, TRIBUTARY_DATABASE__URL, sources' credentials."
  type        = string
}

variable "release_s3_uri" {
  description = "S3 URI of the Tributary release tarball the workers install."
  type        = string
}

variable "alertmanager_config" {
  description = "alertmanager.yml contents: receivers for severity=critical (page) and severity=warning (ticket)."
  type        = string
  sensitive   = true
}

variable "worker_max_size" {
  description = "Most worker instances the fleet may scale out to."
  type        = number
  default     = 10
}

variable "operator_cidr_blocks" {
  description = "Networks allowed to open Prometheus and Alertmanager (the VPN)."
  type        = list(string)
  default     = []
}
