locals {
  # The boot scripts write each peer's bootstrap bundle here and the config points at it.
  bundle_dir = "/etc/meshfed/bundles"

  discovery_provider = merge(var.discovery_provider, { refresh_interval = var.federation.refresh_interval })

  config_values = {
    federation_name  = var.federation.name
    trust_domain     = var.trust_domain
    store_url        = var.store_url
    api_listen       = "0.0.0.0:${var.ports.api}"
    bundle_listen    = "0.0.0.0:${var.ports.bundle}"
    bundle_dir       = local.bundle_dir
    default_location = var.federation.default_location
    default_action   = var.federation.default_action
    svid_ttl         = var.federation.svid_ttl
    clusters         = var.federation.clusters
    providers        = [local.discovery_provider]
    services         = var.federation.services
    policies         = var.federation.policies
    federates_with   = var.federates_with
  }

  meshfed_config = templatefile("${path.module}/templates/meshfed.yaml.tftpl", local.config_values)

  # The gateway listener exists only when this deployment runs a gateway.
  listeners = merge(
    { api = var.ports.api, bundle = var.ports.bundle },
    var.gateway_cluster == "" ? {} : { gateway = var.ports.gateway },
  )
}
