# Inputs that become meshfed.yaml. This file is the same in every cloud module so one
# federation description fits all three; tests/deploy checks that the copies stay identical.

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

variable "trust_domain" {
  type        = string
  description = "SPIFFE trust domain of this deployment (federation.trust_domain), e.g. aws.acme.mesh."

  validation {
    condition     = can(regex("^[a-z0-9._-]{1,255}$", var.trust_domain))
    error_message = "trust_domain is lowercase letters, digits, '.', '-' and '_'."
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

variable "default_action" {
  type        = string
  description = "Authorization decision for a request no policy matches (authorization.default_action)."
  default     = "deny"

  validation {
    condition     = contains(["allow", "deny"], var.default_action)
    error_message = "default_action is allow or deny."
  }
}

variable "svid_ttl" {
  type        = string
  description = "Lifetime of issued X.509-SVIDs (trust.svid_ttl), a duration such as 24h."
  default     = "24h"

  validation {
    condition     = can(regex("^([0-9]+(ms|s|m|h|d))+$", var.svid_ttl))
    error_message = "svid_ttl is a duration such as 24h or 1h30m."
  }
}

variable "refresh_interval" {
  type        = string
  description = "How often this cloud's discovery provider lists endpoints (providers[].refresh_interval)."
  default     = "30s"

  validation {
    condition     = can(regex("^([0-9]+(ms|s|m|h|d))+$", var.refresh_interval))
    error_message = "refresh_interval is a duration such as 30s."
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

variable "federates_with" {
  type = list(object({
    trust_domain       = string
    bundle_endpoint    = string
    endpoint_spiffe_id = string
    bootstrap_bundle   = optional(string, "")
  }))
  description = "Foreign trust domains to federate with over the https_spiffe profile. A peer is written into the config only once its bootstrap_bundle (the JWK Set from `meshfed trust bundle` on the peer) is known."
  default     = []

  validation {
    condition     = alltrue([for p in var.federates_with : startswith(p.bundle_endpoint, "https://") && startswith(p.endpoint_spiffe_id, "spiffe://${p.trust_domain}/")])
    error_message = "bundle_endpoint must be an https:// URL and endpoint_spiffe_id a SPIFFE ID in the peer's own trust domain."
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
