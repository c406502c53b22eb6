output "meshfed_config" {
  description = "The rendered meshfed.yaml (holds no secret: the store password and KEK come from the environment)."
  value       = local.meshfed_config

  precondition {
    condition     = var.gateway_cluster == "" || contains([for c in var.federation.clusters : c.name], var.gateway_cluster)
    error_message = "gateway_cluster must be empty or one of federation.clusters[].name."
  }
}

output "meshfed_version" {
  description = "The meshfed release the boot script installs."
  value       = var.federation.meshfed_version
}

output "federation_name" {
  description = "The federation's name, for resource descriptions."
  value       = var.federation.name
}

output "bundle_dir" {
  description = "Directory the boot script writes the peers' bootstrap bundles to, as the config expects them."
  value       = local.bundle_dir
}

output "bootstrap_bundles" {
  description = "Bootstrap bundle (JWK Set JSON) of each peer whose bundle is known, by trust domain."
  value       = { for p in var.federates_with : p.trust_domain => p.bootstrap_bundle if p.bootstrap_bundle != "" }
}

output "api_tokens" {
  description = "The API token hashes, checked, for the cloud's secret store."
  value       = var.api_tokens
  sensitive   = true
}

output "listeners" {
  description = "Port of each listener the load balancer forwards, by name (api, bundle and, with a gateway_cluster, gateway)."
  value       = local.listeners
}
