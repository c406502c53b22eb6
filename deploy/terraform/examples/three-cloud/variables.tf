# The federation, described once and handed to all three deployments.

variable "federation" {
  type        = any
  description = "The federation all three deployments serve: meshfed_version, name, default_location, clusters, services, policies and optionally default_action, svid_ttl and refresh_interval; modules/meshfed-config types and checks it."
}

variable "api_tokens" {
  type        = any
  description = "API tokens known by hash (api.tokens) as name, role and sha256, the same in every deployment."
  default     = []
  sensitive   = true
}

variable "trust_domain" {
  type        = string
  description = "Parent trust domain; each cloud's deployment runs its own CA under aws., gcp. and azure. of it and federates with the other two."

  validation {
    condition     = can(regex("^[a-z0-9._-]{1,240}$", var.trust_domain))
    error_message = "trust_domain is lowercase letters, digits, '.', '-' and '_'."
  }
}

variable "bootstrap_bundles" {
  type = object({
    aws   = optional(string, "")
    gcp   = optional(string, "")
    azure = optional(string, "")
  })
  description = "Each deployment's trust bundle (JWK Set JSON from `meshfed trust bundle`), known after the first apply; a peer is federated once its bundle is set here."
  default     = {}
}

variable "gateway_clusters" {
  type = object({
    aws   = optional(string, "")
    gcp   = optional(string, "")
    azure = optional(string, "")
  })
  description = "Cluster whose east-west traffic each cloud's meshfed gateway carries; empty runs no gateway there."
  default     = {}
}

variable "operator_cidrs" {
  type        = list(string)
  description = "Where operators, CI and Terraform reach the admin APIs from."

  validation {
    condition     = length(var.operator_cidrs) > 0 && alltrue([for c in var.operator_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "Give at least one CIDR block; 0.0.0.0/0 is refused."
  }
}

variable "federation_cidrs" {
  type        = list(string)
  description = "Private ranges of all three clouds (joined by VPN or interconnect): the deployments fetch each other's bundles and the clusters' gateways talk over them."

  validation {
    condition     = length(var.federation_cidrs) > 0 && alltrue([for c in var.federation_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "Give at least one CIDR block; 0.0.0.0/0 is refused."
  }
}

# AWS

variable "aws_region" {
  type        = string
  description = "Region of the AWS deployment."
}

variable "aws_vpc_id" {
  type        = string
  description = "VPC of the AWS deployment."
}

variable "aws_subnet_ids" {
  type        = list(string)
  description = "Private subnets (two or more AZs) of the AWS deployment."
}

variable "aws_discovery_regions" {
  type        = list(string)
  description = "AWS regions the AWS deployment discovers endpoints in."
}

# GCP

variable "gcp_project_id" {
  type        = string
  description = "Project of the GCP deployment."
}

variable "gcp_region" {
  type        = string
  description = "Region of the GCP deployment."
}

variable "gcp_network" {
  type        = string
  description = "VPC network self link of the GCP deployment."
}

variable "gcp_subnetwork" {
  type        = string
  description = "Subnetwork self link of the GCP deployment."
}

variable "gcp_discovery_projects" {
  type        = list(string)
  description = "Projects the GCP deployment discovers endpoints in."
}

# Azure

variable "azure_subscription_id" {
  type        = string
  description = "Subscription the Azure deployment is created in."
}

variable "azure_location" {
  type        = string
  description = "Region of the Azure deployment."
}

variable "azure_resource_group_name" {
  type        = string
  description = "Existing resource group of the Azure deployment."
}

variable "azure_virtual_network_id" {
  type        = string
  description = "Virtual network of the Azure deployment."
}

variable "azure_subnet_id" {
  type        = string
  description = "Subnet of the Azure deployment."
}

variable "azure_network_resource_group_ids" {
  type        = list(string)
  description = "Resource groups holding the networks the Azure deployment discovers (Reader is granted on these only)."
}

variable "azure_discovery_subscriptions" {
  type        = list(string)
  description = "Subscriptions the Azure deployment discovers endpoints in."
}

variable "azure_admin_ssh_public_key" {
  type        = string
  description = "OpenSSH public key for the Azure instances' administrator."
}

variable "azure_key_vault_allowed_ips" {
  type        = list(string)
  description = "Public addresses from which Terraform writes the Azure Key Vault secrets."
}
