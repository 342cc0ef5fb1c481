output "endpoint" {
  description = "Host name resolving to all nodes (round robin), for the management API and tools. Workers take node_names instead, one URL each in amqp.url, so that they fail over node by node."
  value       = aws_route53_record.cluster.fqdn
}

output "management_url" {
  description = "Management API of the cluster (queue-admin's amqp.management_url, KEDA's host)."
  value       = "https://${aws_route53_record.cluster.fqdn}:15671"
}

output "node_names" {
  description = "Fully qualified host names of the nodes: TRIBUTARY_AMQP__URL=amqps://<user>:<password>@<node>:5671/%2f, one per node, comma-separated."
  value       = aws_route53_record.node[*].fqdn
}

output "security_group_id" {
  description = "Security group of the nodes."
  value       = aws_security_group.rabbitmq.id
}
