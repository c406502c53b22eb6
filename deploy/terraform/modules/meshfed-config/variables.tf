# What every cloud's deployment turns into meshfed.yaml. The types, defaults and checks live
# here only; the cloud modules and the example pass the values through untyped.

variable "federation" {
  type = object({
    meshfed_version  = string
    name             = string
    default_location = string
    default_action   = optional(string, "deny")
    svid_ttl         = optional(string, "24h")
    refresh_interval = optional(string, "30s")
    clusters = list(object({
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
    services = optional(list(object({
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
    })), [])
    policies = optional(list(object({
      name    = string
      action  = string
      to      = string
      from    = list(string)
      methods = optional(list(string), [])
      paths   = optional(list(string), [])
    })), [])
  })
  description = "The federation every deployment serves alike: meshfed_version (the release installed from PyPI, e.g. 0.1.0), name (federation.name), default_location (geoip.default_location, CLOUD:REGION), default_action (authorization.default_action), svid_ttl (trust.svid_ttl), refresh_interval (providers[].refresh_interval), clusters, services and policies (the sections of the same name; a failover entry is a map of cluster to weight, with weight 1 for a single cluster)."

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+([.-]?(a|b|rc|post|dev)[0-9]+)?$", var.federation.meshfed_version))
    error_message = "federation.meshfed_version must be a release version such as 0.1.0 (no ranges: every replica runs the same release)."
  }

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$", var.federation.name))
    error_message = "federation.name is lowercase letters, digits, '.' and '-', starting and ending alphanumeric, at most 63 characters."
  }

  validation {
    condition     = can(regex("^(aws|gcp|azure):[a-z0-9-]+$", var.federation.default_location))
    error_message = "federation.default_location is CLOUD:REGION, e.g. aws:us-east-1."
  }

  validation {
    condition     = contains(["allow", "deny"], var.federation.default_action)
    error_message = "federation.default_action is allow or deny."
  }

  validation {
    condition     = alltrue([for d in [var.federation.svid_ttl, var.federation.refresh_interval] : can(regex("^([0-9]+(ms|s|m|h|d))+$", d))])
    error_message = "federation.svid_ttl and federation.refresh_interval are durations such as 24h, 30s or 1h30m."
  }

  validation {
    condition     = alltrue([for c in var.federation.clusters : can(regex("^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$", c.name)) && contains(["aws", "gcp", "azure"], c.cloud)])
    error_message = "Each of federation.clusters has a name of lowercase letters, digits, '.' and '-', and cloud aws, gcp or azure."
  }

  validation {
    condition     = length(distinct([for c in var.federation.clusters : c.name])) == length(var.federation.clusters)
    error_message = "federation.clusters names must be unique."
  }

  validation {
    condition     = alltrue([for s in var.federation.services : can(regex("^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$", s.name)) && s.port >= 1 && s.port <= 65535])
    error_message = "Each of federation.services has a name of lowercase letters, digits, '.' and '-', and a port from 1 to 65535."
  }

  validation {
    condition     = alltrue([for s in var.federation.services : contains(["geo", "weighted", "failover"], s.routing.mode)])
    error_message = "federation.services[].routing.mode is geo, weighted or failover."
  }

  validation {
    condition     = alltrue([for p in var.federation.policies : contains(["allow", "deny"], p.action) && length(p.from) > 0 && alltrue([for f in p.from : startswith(f, "spiffe://")])])
    error_message = "Each of federation.policies has action allow or deny and at least one spiffe:// pattern in from."
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

variable "store_url" {
  type        = string
  description = "The deployment's store (store): a rediss:// URL whose password is a reference to the environment variable MESHFED_REDIS_AUTH."

  validation {
    condition     = startswith(var.store_url, "rediss://:$${MESHFED_REDIS_AUTH}@")
    error_message = "store_url is a rediss:// URL whose password is the reference $${MESHFED_REDIS_AUTH}, so no secret is written into the config."
  }
}

variable "discovery_provider" {
  type        = any
  description = "The deployment's own discovery provider (providers[]) without refresh_interval: name, kind and the kind's scope (regions, projects or subscriptions)."

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$", var.discovery_provider.name)) && contains(["aws", "gcp", "azure"], var.discovery_provider.kind)
    error_message = "discovery_provider (the cloud module's provider_name) has a name of lowercase letters, digits, '.' and '-', and kind aws, gcp or azure."
  }
}

variable "ports" {
  type = object({
    api     = number
    bundle  = number
    gateway = number
  })
  description = "Ports of the admin API, the SPIFFE bundle endpoint and the east-west gateway (the cloud module's api_port, bundle_port and gateway_port)."

  validation {
    condition     = alltrue([for p in values(var.ports) : p >= 1024 && p <= 65535])
    error_message = "api_port, bundle_port and gateway_port are unprivileged ports, 1024-65535."
  }
}

variable "gateway_cluster" {
  type        = string
  description = "Cluster (one of federation.clusters[].name) whose east-west traffic this deployment's gateway carries; empty runs no gateway."
  default     = ""
}
