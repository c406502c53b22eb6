output "api_endpoint" {
  description = "URL of the admin REST API behind the internal NLB."
  value       = "http://${aws_lb.meshfed.dns_name}:${var.api_port}"
}

output "bundle_endpoint" {
  description = "URL of the SPIFFE bundle endpoint (https_spiffe profile), for the peers' federates_with."
  value       = "https://${aws_lb.meshfed.dns_name}:${var.bundle_port}"
}

output "gateway_address" {
  description = "HOST:PORT of the east-west gateway; empty when gateway_cluster is empty."
  value       = var.gateway_cluster == "" ? "" : "${aws_lb.meshfed.dns_name}:${var.gateway_port}"
}

output "redis_host" {
  description = "Primary endpoint of the ElastiCache replication group (TLS, AUTH)."
  value       = aws_elasticache_replication_group.store.primary_endpoint_address
}

output "role_arn" {
  description = "ARN of the replicas' IAM role (read-only discovery)."
  value       = aws_iam_role.meshfed.arn
}

output "instance_profile_arn" {
  description = "ARN of the instance profile the launch template uses."
  value       = aws_iam_instance_profile.meshfed.arn
}

output "kek_secret_arn" {
  description = "Secrets Manager ARN of the key-encryption key."
  value       = aws_secretsmanager_secret.kek.arn
}

output "redis_auth_secret_arn" {
  description = "Secrets Manager ARN of the Redis AUTH token."
  value       = aws_secretsmanager_secret.redis_auth.arn
}

output "autoscaling_group_name" {
  description = "Name of the Auto Scaling group running meshfed."
  value       = aws_autoscaling_group.meshfed.name
}

output "log_group_name" {
  description = "CloudWatch log group meshfed writes to."
  value       = aws_cloudwatch_log_group.meshfed.name
}

output "bootstrap_admin_token" {
  description = "An admin API token whose hash the replicas load at start; use it once, then create named tokens."
  value       = random_password.bootstrap_admin_token.result
  sensitive   = true
}

output "meshfed_config" {
  description = "The meshfed.yaml the replicas run (holds no secret: the store password and KEK come from the environment)."
  value       = module.config.meshfed_config
}
