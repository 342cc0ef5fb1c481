output "address" {
  description = "Host name of the database (TRIBUTARY_DATABASE__URL=postgres://<role>:<password>@<address>:5432/tributary?sslmode=verify-full)."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "Port of the database."
  value       = aws_db_instance.this.port
}

output "master_user_secret_arn" {
  description = "Secrets Manager secret with the master user's credentials (RDS rotates it). Use it to create Tributary's own role, not to run Tributary."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "security_group_id" {
  description = "Security group of the database."
  value       = aws_security_group.postgresql.id
}
