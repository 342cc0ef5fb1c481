output "autoscaling_group_name" {
  description = "Name of the workers' Auto Scaling group."
  value       = aws_autoscaling_group.worker.name
}

output "security_group_id" {
  description = "Security group of the workers (allow it on the broker and the database)."
  value       = aws_security_group.worker.id
}

output "iam_role_name" {
  description = "IAM role of the workers, to grant them more (e.g. a source's AWS credentials)."
  value       = aws_iam_role.worker.name
}
