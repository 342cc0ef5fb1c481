output "security_group_id" {
  description = "Security group of the monitoring host: allow it on every scrape target (workers 9090, schedulers 9290, queue-admin 9190, RabbitMQ 15692)."
  value       = aws_security_group.monitoring.id
}

output "prometheus_url" {
  description = "Prometheus on the monitoring host."
  value       = "http://${aws_instance.monitoring.private_ip}:9090"
}

output "queue_depth_metric" {
  description = "The CloudWatch metric with the work queues' summed ready messages (the worker fleet's queue_depth_metric)."
  value = {
    namespace   = var.queue_depth_namespace
    metric_name = "WorkQueueReadyMessages"
    dimensions  = { Fleet = var.name }
  }
}
