variable "name" {
  description = "Name prefix of every resource (e.g. \"tributary-prod\")."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2-31 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "vpc_id" {
  description = "VPC the database runs in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets in at least two availability zones (RDS requires it; Multi-AZ uses them)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "RDS needs subnets in at least two availability zones."
  }
}

variable "engine_version" {
  description = "PostgreSQL major version. Tributary needs 13 or later (websearch_to_tsquery, DROP DATABASE ... WITH (FORCE) in tests)."
  type        = string
  default     = "16"

  validation {
    condition     = tonumber(split(".", var.engine_version)[0]) >= 13
    error_message = "engine_version must be 13 or later."
  }
}

variable "instance_class" {
  description = "RDS instance class. Page commits are batched (COPY, one statement per page), so write throughput grows with IOPS more than with cores."
  type        = string
  default     = "db.r6g.large"
}

variable "allocated_storage_gb" {
  description = "Initial storage, GiB (gp3). Records, the job ledger and dead letters grow with tenants x sources; storage autoscales up to max_allocated_storage_gb."
  type        = number
  default     = 200

  validation {
    condition     = var.allocated_storage_gb >= 20
    error_message = "allocated_storage_gb must be at least 20."
  }
}

variable "max_allocated_storage_gb" {
  description = "Upper bound of storage autoscaling, GiB."
  type        = number
  default     = 2000
}

variable "multi_az" {
  description = "A synchronous standby in another AZ. Postgres is the system of record: keep it on in production."
  type        = bool
  default     = true
}

variable "backup_retention_days" {
  description = "Days of automated backups and point-in-time recovery."
  type        = number
  default     = 14

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be between 1 and 35."
  }
}

variable "max_connections" {
  description = "max_connections of the server. Budget: workers x database.max_connections (16) + schedulers + queue-admin replicas x theirs + headroom."
  type        = number
  default     = 800
}

variable "client_security_group_ids" {
  description = "Security groups allowed to connect on 5432: workers, schedulers, queue-admin."
  type        = list(string)
  default     = []
}

variable "deletion_protection" {
  description = "Refuse to destroy the database. Turn off only to tear down a test environment."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
