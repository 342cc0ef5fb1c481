output "endpoint" {
  description = "Host name clients use (all nodes, round robin): amqps://<user>:<password>@<endpoint>:5671/%2f."
  value       = aws_route53_record.cluster.fqdn
}

output "management_url" {
  description = "Management API of the cluster (queue-admin's amqp.management_url, KEDA's host)."
  value       = "https://${aws_route53_record.cluster.fqdn}:15671"
}

output "node_names" {
  description = "Fully qualified host names of the nodes."
  value       = aws_route53_record.node[*].fqdn
}

output "security_group_id" {
  description = "Security group of the nodes."
  value       = aws_security_group.rabbitmq.id
}
