output "api_endpoint" {
  description = "URL of the admin REST API behind the internal TCP load balancer."
  value       = "http://${google_compute_forwarding_rule.meshfed.ip_address}:${var.api_port}"
}

output "bundle_endpoint" {
  description = "URL of the SPIFFE bundle endpoint (https_spiffe profile), for the peers' federates_with."
  value       = "https://${google_compute_forwarding_rule.meshfed.ip_address}:${var.bundle_port}"
}

output "gateway_address" {
  description = "HOST:PORT of the east-west gateway; empty when gateway_cluster is empty."
  value       = var.gateway_cluster == "" ? "" : "${google_compute_forwarding_rule.meshfed.ip_address}:${var.gateway_port}"
}

output "redis_host" {
  description = "Address of the Memorystore instance (TLS, AUTH)."
  value       = google_redis_instance.store.host
}

output "service_account_email" {
  description = "Email of the replicas' service account (compute.viewer and its own secrets only)."
  value       = google_service_account.meshfed.email
}

output "kek_secret_id" {
  description = "Secret Manager id of the key-encryption key."
  value       = google_secret_manager_secret.meshfed["kek"].id
}

output "instance_group" {
  description = "Instance group URL of the regional managed instance group."
  value       = google_compute_region_instance_group_manager.meshfed.instance_group
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
