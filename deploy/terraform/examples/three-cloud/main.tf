# One federation in three clouds. Each deployment is its own SPIFFE trust domain with its own
# CA and store; they discover their own cloud and federate trust with one another.

locals {
  # Short on purpose: Azure derives Key Vault names from it (24 characters at most).
  name = "meshfed-${var.federation.name}"

  trust_domains = {
    aws   = "aws.${var.trust_domain}"
    gcp   = "gcp.${var.trust_domain}"
    azure = "azure.${var.trust_domain}"
  }

  # Each deployment as a peer of the other two.
  peer = {
    aws = {
      trust_domain       = local.trust_domains.aws
      bundle_endpoint    = module.aws.bundle_endpoint
      endpoint_spiffe_id = "spiffe://${local.trust_domains.aws}/meshfed/bundle-endpoint"
      bootstrap_bundle   = var.bootstrap_bundles.aws
    }
    gcp = {
      trust_domain       = local.trust_domains.gcp
      bundle_endpoint    = module.gcp.bundle_endpoint
      endpoint_spiffe_id = "spiffe://${local.trust_domains.gcp}/meshfed/bundle-endpoint"
      bootstrap_bundle   = var.bootstrap_bundles.gcp
    }
    azure = {
      trust_domain       = local.trust_domains.azure
      bundle_endpoint    = module.azure.bundle_endpoint
      endpoint_spiffe_id = "spiffe://${local.trust_domains.azure}/meshfed/bundle-endpoint"
      bootstrap_bundle   = var.bootstrap_bundles.azure
    }
  }
}

module "aws" {
  source = "../../modules/aws"

  name           = local.name
  federation     = var.federation
  trust_domain   = local.trust_domains.aws
  federates_with = [local.peer.gcp, local.peer.azure]
  api_tokens     = var.api_tokens

  discovery_regions = var.aws_discovery_regions
  gateway_cluster   = var.gateway_clusters.aws

  vpc_id                = var.aws_vpc_id
  subnet_ids            = var.aws_subnet_ids
  api_allowed_cidrs     = var.operator_cidrs
  bundle_allowed_cidrs  = var.federation_cidrs
  gateway_allowed_cidrs = var.federation_cidrs
}

module "gcp" {
  source = "../../modules/gcp"

  name           = local.name
  federation     = var.federation
  trust_domain   = local.trust_domains.gcp
  federates_with = [local.peer.aws, local.peer.azure]
  api_tokens     = var.api_tokens

  discovery_projects = var.gcp_discovery_projects
  gateway_cluster    = var.gateway_clusters.gcp

  project_id             = var.gcp_project_id
  region                 = var.gcp_region
  network                = var.gcp_network
  subnetwork             = var.gcp_subnetwork
  api_allowed_ranges     = var.operator_cidrs
  bundle_allowed_ranges  = var.federation_cidrs
  gateway_allowed_ranges = var.federation_cidrs
}

module "azure" {
  source = "../../modules/azure"

  name           = local.name
  federation     = var.federation
  trust_domain   = local.trust_domains.azure
  federates_with = [local.peer.aws, local.peer.gcp]
  api_tokens     = var.api_tokens

  discovery_subscriptions = var.azure_discovery_subscriptions
  gateway_cluster         = var.gateway_clusters.azure

  resource_group_name        = var.azure_resource_group_name
  location                   = var.azure_location
  virtual_network_id         = var.azure_virtual_network_id
  subnet_id                  = var.azure_subnet_id
  network_resource_group_ids = var.azure_network_resource_group_ids
  admin_ssh_public_key       = var.azure_admin_ssh_public_key
  key_vault_allowed_ips      = var.azure_key_vault_allowed_ips
  api_allowed_prefixes       = var.operator_cidrs
  bundle_allowed_prefixes    = var.federation_cidrs
  gateway_allowed_prefixes   = var.federation_cidrs
}
