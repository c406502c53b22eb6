output "api_endpoint" {
  description = "URL of the admin REST API behind the internal Standard load balancer."
  value       = "http://${azurerm_lb.meshfed.frontend_ip_configuration[0].private_ip_address}:${var.api_port}"
}

output "bundle_endpoint" {
  description = "URL of the SPIFFE bundle endpoint (https_spiffe profile), for the peers' federates_with."
  value       = "https://${azurerm_lb.meshfed.frontend_ip_configuration[0].private_ip_address}:${var.bundle_port}"
}

output "gateway_address" {
  description = "HOST:PORT of the east-west gateway; empty when gateway_cluster is empty."
  value       = var.gateway_cluster == "" ? "" : "${azurerm_lb.meshfed.frontend_ip_configuration[0].private_ip_address}:${var.gateway_port}"
}

output "redis_host" {
  description = "Host name of the Azure Cache for Redis (TLS only, reached through its private endpoint)."
  value       = azurerm_redis_cache.store.hostname
}

output "identity_principal_id" {
  description = "Principal id of the user-assigned managed identity (Reader on the network groups, secrets user on the vault)."
  value       = azurerm_user_assigned_identity.meshfed.principal_id
}

output "identity_client_id" {
  description = "Client id of the user-assigned managed identity (AZURE_CLIENT_ID on the instances)."
  value       = azurerm_user_assigned_identity.meshfed.client_id
}

output "key_vault_id" {
  description = "Id of the Key Vault holding the KEK, the Redis key and the token hashes."
  value       = azurerm_key_vault.meshfed.id
}

output "scale_set_id" {
  description = "Id of the VM scale set running meshfed."
  value       = azurerm_linux_virtual_machine_scale_set.meshfed.id
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
