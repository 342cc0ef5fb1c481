output "rabbitmq_endpoint" {
  description = "AMQPS host name of the broker cluster."
  value       = module.rabbitmq.endpoint
}

output "rabbitmq_nodes" {
  description = "Host names of the broker nodes: the workers' TRIBUTARY_AMQP__URL holds one amqps URL per node, comma-separated."
  value       = module.rabbitmq.node_names
}

output "rabbitmq_management_url" {
  description = "Management API of the broker cluster."
  value       = module.rabbitmq.management_url
}

output "postgresql_address" {
  description = "Host name of the database."
  value       = module.postgresql.address
}

output "prometheus_url" {
  description = "Prometheus with Tributary's rules."
  value       = module.monitoring.prometheus_url
}

output "worker_autoscaling_group" {
  description = "The workers' Auto Scaling group."
  value       = module.workers.autoscaling_group_name
}

output "clients_security_group_id" {
  description = "Give this group to schedulers and queue-admin hosts: the broker and the database accept it."
  value       = aws_security_group.clients.id
}
