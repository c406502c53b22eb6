variable "name" {
  type        = string
  description = "Prefix of every resource this module creates."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name))
    error_message = "name is 3-20 lowercase letters, digits and '-', starting with a letter (GCP names derived from it must stay under 63 characters)."
  }
}

variable "project_id" {
  type        = string
  description = "Project the instances, load balancer, Redis and secrets are created in."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id is a GCP project id such as acme-prod."
  }
}

variable "region" {
  type        = string
  description = "Region of the managed instance group, the internal load balancer and Memorystore."

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region is a GCP region such as europe-west1."
  }
}

variable "network" {
  type        = string
  description = "Self link or id of the VPC network (Memorystore is peered to it)."
}

variable "subnetwork" {
  type        = string
  description = "Self link or id of the subnetwork in region; it needs Cloud NAT or Private Google Access plus a PyPI mirror for the boot-time install."
}

variable "machine_type" {
  type        = string
  description = "Machine type of the meshfed replicas."
  default     = "e2-standard-2"
}

variable "source_image" {
  type        = string
  description = "Boot image; Debian 12 ships the Python 3.11 meshfed needs."
  default     = "debian-cloud/debian-12"
}

variable "target_size" {
  type        = number
  description = "Replicas in the regional managed instance group."
  default     = 2

  validation {
    condition     = var.target_size >= 1
    error_message = "target_size is at least 1."
  }
}

variable "api_port" {
  type        = number
  description = "Port of the admin REST API and EDS endpoint."
  default     = 8470
}

variable "bundle_port" {
  type        = number
  description = "Port of the SPIFFE bundle endpoint."
  default     = 8443
}

variable "gateway_port" {
  type        = number
  description = "Port of meshfed's east-west gateway."
  default     = 15443
}

variable "gateway_cluster" {
  type        = string
  description = "Cluster (one of federation.clusters[].name) whose east-west traffic this deployment's gateway carries; empty runs no gateway."
  default     = ""
}

variable "api_allowed_ranges" {
  type        = list(string)
  description = "Source ranges that may reach the admin API."

  validation {
    condition     = length(var.api_allowed_ranges) > 0 && alltrue([for c in var.api_allowed_ranges : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "Give at least one CIDR range; 0.0.0.0/0 is refused for the admin API."
  }
}

variable "bundle_allowed_ranges" {
  type        = list(string)
  description = "Source ranges that may fetch the SPIFFE bundle (the federated deployments)."

  validation {
    condition     = length(var.bundle_allowed_ranges) > 0 && alltrue([for c in var.bundle_allowed_ranges : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "Give at least one CIDR range; 0.0.0.0/0 is refused."
  }
}

variable "gateway_allowed_ranges" {
  type        = list(string)
  description = "Source ranges of the peer clusters whose east-west traffic enters through the gateway."

  validation {
    condition     = length(var.gateway_allowed_ranges) > 0 && alltrue([for c in var.gateway_allowed_ranges : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "Give at least one CIDR range; 0.0.0.0/0 is refused."
  }
}

variable "provider_name" {
  type        = string
  description = "Name of this deployment's GCP discovery provider (providers[].name)."
  default     = "gcp"
}

variable "discovery_projects" {
  type        = list(string)
  description = "Projects the discovery provider lists mesh endpoints in; the service account gets roles/compute.viewer on each."

  validation {
    condition     = length(var.discovery_projects) > 0 && alltrue([for p in var.discovery_projects : can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", p))])
    error_message = "Give at least one GCP project id."
  }
}

variable "redis_memory_size_gb" {
  type        = number
  description = "Memory of the Memorystore instance."
  default     = 1

  validation {
    condition     = var.redis_memory_size_gb >= 1
    error_message = "redis_memory_size_gb is at least 1."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels added to every resource that takes them."
  default     = {}
}
