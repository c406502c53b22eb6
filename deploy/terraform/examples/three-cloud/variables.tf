# The federation, described once and handed to all three deployments.

variable "meshfed_version" {
  type        = string
  description = "meshfed release installed from PyPI on every instance, e.g. 0.1.0."

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+([.-]?(a|b|rc|post|dev)[0-9]+)?$", var.meshfed_version))
    error_message = "meshfed_version must be a release version such as 0.1.0 (no ranges: every replica runs the same release)."
  }
}

variable "federation_name" {
  type        = string
  description = "The federation's name (federation.name)."

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$", var.federation_name))
    error_message = "federation_name is lowercase letters, digits, '.' and '-', starting and ending alphanumeric, at most 63 characters."
  }
}

variable "default_location" {
  type        = string
  description = "Where callers GeoIP cannot place are assumed to be (geoip.default_location), CLOUD:REGION."

  validation {
    condition     = can(regex("^(aws|gcp|azure):[a-z0-9-]+$", var.default_location))
    error_message = "default_location is CLOUD:REGION, e.g. aws:us-east-1."
  }
}

variable "clusters" {
  type = list(object({
    name         = string
    cloud        = string
    region       = string
    network      = optional(string, "")
    zone         = optional(string, "")
    trust_domain = optional(string)
    gateway = optional(object({
      address = string
      port    = number
    }))
  }))
  description = "The mesh clusters of the federation (clusters[]); the same list in every cloud's deployment."

  validation {
    condition     = alltrue([for c in var.clusters : can(regex("^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$", c.name)) && contains(["aws", "gcp", "azure"], c.cloud)])
    error_message = "Each cluster has a name of lowercase letters, digits, '.' and '-', and cloud aws, gcp or azure."
  }

  validation {
    condition     = length(distinct([for c in var.clusters : c.name])) == length(var.clusters)
    error_message = "Cluster names must be unique."
  }
}

variable "services" {
  type = list(object({
    name = string
    port = number
    routing = optional(object({
      mode                    = optional(string, "geo")
      weights                 = optional(map(number), {})
      failover                = optional(list(map(number)), [])
      overprovisioning_factor = optional(number, 1.4)
      panic_threshold         = optional(number, 50)
    }), {})
    outlier_detection = optional(object({
      consecutive_5xx              = optional(number, 5)
      consecutive_connect_failures = optional(number, 3)
      base_ejection_time           = optional(string, "30s")
      max_ejection_time            = optional(string, "300s")
      max_ejection_percent         = optional(number, 10)
    }))
    circuit_breaker = optional(object({
      max_connections      = optional(number, 1024)
      max_pending_requests = optional(number, 1024)
      max_requests         = optional(number, 1024)
      sleep_window         = optional(string, "30s")
    }), {})
    retries = optional(object({
      attempts        = optional(number, 3)
      per_try_timeout = optional(string, "1s")
      backoff_base    = optional(string, "25ms")
      backoff_max     = optional(string, "250ms")
      retry_on        = optional(list(string), ["connect-failure", "reset"])
      budget_percent  = optional(number, 20)
    }), {})
    health_check = optional(object({
      kind                = optional(string, "tcp")
      interval            = optional(string, "5s")
      timeout             = optional(string, "1s")
      unhealthy_threshold = optional(number, 3)
      healthy_threshold   = optional(number, 2)
      path                = optional(string, "/healthz")
    }), {})
  }))
  description = "Services and their routing (services[]); a failover entry is a map of cluster to weight, with weight 1 for a single cluster."
  default     = []

  validation {
    condition     = alltrue([for s in var.services : can(regex("^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$", s.name)) && s.port >= 1 && s.port <= 65535])
    error_message = "Each service has a name of lowercase letters, digits, '.' and '-', and a port from 1 to 65535."
  }

  validation {
    condition     = alltrue([for s in var.services : contains(["geo", "weighted", "failover"], s.routing.mode)])
    error_message = "routing.mode is geo, weighted or failover."
  }
}

variable "policies" {
  type = list(object({
    name    = string
    action  = string
    to      = string
    from    = list(string)
    methods = optional(list(string), [])
    paths   = optional(list(string), [])
  }))
  description = "Authorization policies every gateway enforces (policies[]); from holds SPIFFE ID patterns."
  default     = []

  validation {
    condition     = alltrue([for p in var.policies : contains(["allow", "deny"], p.action) && length(p.from) > 0 && alltrue([for f in p.from : startswith(f, "spiffe://")])])
    error_message = "Each policy has action allow or deny and at least one spiffe:// pattern in from."
  }
}

variable "api_tokens" {
  type = list(object({
    name   = string
    role   = string
    sha256 = string
  }))
  description = "API tokens known by hash (api.tokens). Kept in the cloud's secret store and merged into the config when meshfed starts."
  default     = []
  sensitive   = true

  validation {
    condition     = alltrue([for t in var.api_tokens : contains(["viewer", "operator", "admin"], t.role) && can(regex("^[0-9a-f]{64}$", t.sha256))])
    error_message = "Each token has role viewer, operator or admin and sha256 as 64 lowercase hex digits."
  }
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
