output "api_endpoints" {
  description = "Admin API URL of each cloud's deployment."
  value = {
    aws   = module.aws.api_endpoint
    gcp   = module.gcp.api_endpoint
    azure = module.azure.api_endpoint
  }
}

output "bundle_endpoints" {
  description = "SPIFFE bundle endpoint URL of each cloud's deployment."
  value = {
    aws   = module.aws.bundle_endpoint
    gcp   = module.gcp.bundle_endpoint
    azure = module.azure.bundle_endpoint
  }
}

output "trust_domains" {
  description = "Trust domain of each cloud's deployment."
  value       = local.trust_domains
}

output "redis_hosts" {
  description = "Store host of each cloud's deployment."
  value = {
    aws   = module.aws.redis_host
    gcp   = module.gcp.redis_host
    azure = module.azure.redis_host
  }
}

output "bootstrap_admin_tokens" {
  description = "Admin API token of each deployment, for the first calls; `terraform output -json bootstrap_admin_tokens` shows them."
  value = {
    aws   = module.aws.bootstrap_admin_token
    gcp   = module.gcp.bootstrap_admin_token
    azure = module.azure.bootstrap_admin_token
  }
  sensitive = true
}

output "meshfed_configs" {
  description = "The meshfed.yaml each deployment runs, for `meshfed validate` before the instances pick it up."
  value = {
    aws   = module.aws.meshfed_config
    gcp   = module.gcp.meshfed_config
    azure = module.azure.meshfed_config
  }
}
