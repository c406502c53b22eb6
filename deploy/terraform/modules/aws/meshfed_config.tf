# What becomes meshfed.yaml. The meshfed-config module types, defaults and checks these inputs,
# so they pass through here untyped.

variable "federation" {
  type        = any
  description = "The federation every deployment serves alike (meshfed_version, name, default_location, clusters, services, policies, …); its attributes and their checks are listed in modules/meshfed-config."
}

variable "trust_domain" {
  type        = string
  description = "SPIFFE trust domain of this deployment (federation.trust_domain), e.g. aws.acme.mesh."
}

variable "federates_with" {
  type        = any
  description = "Foreign trust domains to federate with over the https_spiffe profile: trust_domain, bundle_endpoint, endpoint_spiffe_id and bootstrap_bundle (the JWK Set from `meshfed trust bundle` on the peer; a peer is written into the config only once it is known)."
  default     = []
}

variable "api_tokens" {
  type        = any
  description = "API tokens known by hash (api.tokens) as name, role and sha256. Kept in the cloud's secret store and merged into the config when meshfed starts."
  default     = []
  sensitive   = true
}

module "config" {
  source = "../meshfed-config"

  federation      = var.federation
  trust_domain    = var.trust_domain
  federates_with  = var.federates_with
  api_tokens      = var.api_tokens
  ports           = { api = var.api_port, bundle = var.bundle_port, gateway = var.gateway_port }
  gateway_cluster = var.gateway_cluster

  discovery_provider = { name = var.provider_name, kind = "aws", regions = var.discovery_regions }

  # MESHFED_REDIS_AUTH stays a reference: meshfed expands it from the environment at load,
  # so the AUTH token never appears in user data or in the rendered config.
  store_url = "rediss://:$${MESHFED_REDIS_AUTH}@${aws_elasticache_replication_group.store.primary_endpoint_address}:${local.redis_port}/0"
}
