variable "name" {
  type        = string
  description = "Prefix of every resource this module creates; a random suffix makes the Key Vault and Redis names globally unique."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,14}[a-z0-9]$", var.name))
    error_message = "name is 3-16 lowercase letters, digits and '-', starting with a letter (Key Vault names stop at 24 characters)."
  }
}

variable "resource_group_name" {
  type        = string
  description = "Existing resource group the scale set, load balancer, Redis and Key Vault are created in."
}

variable "location" {
  type        = string
  description = "Azure region, e.g. westeurope."

  validation {
    condition     = can(regex("^[a-z0-9]+$", var.location))
    error_message = "location is an Azure region name such as westeurope."
  }
}

variable "subnet_id" {
  type        = string
  description = "Subnet of the scale set, the load balancer frontend and the private endpoints; it needs outbound access (NAT gateway) for the boot-time install from PyPI."

  validation {
    condition     = can(regex("(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft.Network/virtualNetworks/[^/]+/subnets/[^/]+$", var.subnet_id))
    error_message = "subnet_id is a subnet resource id (/subscriptions/…/virtualNetworks/…/subnets/…)."
  }
}

variable "virtual_network_id" {
  type        = string
  description = "Virtual network of subnet_id; the private DNS zones of Redis and Key Vault are linked to it."

  validation {
    condition     = can(regex("(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft.Network/virtualNetworks/[^/]+$", var.virtual_network_id))
    error_message = "virtual_network_id is a virtual network resource id."
  }
}

variable "network_resource_group_ids" {
  type        = list(string)
  description = "Resource groups holding the networks discovery reads (load balancers, NICs, public IPs); the identity gets Reader on each, and nothing wider."

  validation {
    condition     = length(var.network_resource_group_ids) > 0 && alltrue([for id in var.network_resource_group_ids : can(regex("(?i)^/subscriptions/[0-9a-f-]{36}/resourceGroups/[^/]+$", id))])
    error_message = "Give at least one resource group id (/subscriptions/UUID/resourceGroups/NAME)."
  }
}

variable "discovery_subscriptions" {
  type        = list(string)
  description = "Subscriptions the discovery provider lists (providers[].subscriptions); they hold network_resource_group_ids."

  validation {
    condition     = length(var.discovery_subscriptions) > 0 && alltrue([for s in var.discovery_subscriptions : can(regex("^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$", s))])
    error_message = "Give at least one subscription id (a UUID)."
  }
}

variable "vm_size" {
  type        = string
  description = "VM size of the scale set instances."
  default     = "Standard_D2s_v5"
}

variable "instances" {
  type        = number
  description = "Instances in the scale set."
  default     = 2

  validation {
    condition     = var.instances >= 1
    error_message = "instances is at least 1."
  }
}

variable "zones" {
  type        = list(string)
  description = "Availability zones to spread instances over; empty for regions without zones."
  default     = ["1", "2", "3"]
}

variable "admin_username" {
  type        = string
  description = "Login of the instances' administrator (SSH key only, no password)."
  default     = "meshfedadmin"
}

variable "admin_ssh_public_key" {
  type        = string
  description = "OpenSSH public key of the administrator."

  validation {
    condition     = can(regex("^(ssh-rsa|ssh-ed25519|ecdsa-sha2-nistp[0-9]+) ", var.admin_ssh_public_key))
    error_message = "admin_ssh_public_key is an OpenSSH public key (ssh-ed25519 …, ssh-rsa …)."
  }
}

variable "encryption_at_host" {
  type        = bool
  description = "Encrypt temp disks and caches at the host; needs the EncryptionAtHost feature registered on the subscription."
  default     = true
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

variable "api_allowed_prefixes" {
  type        = list(string)
  description = "Address prefixes that may reach the admin API."

  validation {
    condition     = length(var.api_allowed_prefixes) > 0 && alltrue([for c in var.api_allowed_prefixes : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "Give at least one CIDR prefix; 0.0.0.0/0 is refused for the admin API."
  }
}

variable "bundle_allowed_prefixes" {
  type        = list(string)
  description = "Address prefixes that may fetch the SPIFFE bundle (the federated deployments)."

  validation {
    condition     = length(var.bundle_allowed_prefixes) > 0 && alltrue([for c in var.bundle_allowed_prefixes : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "Give at least one CIDR prefix; 0.0.0.0/0 is refused."
  }
}

variable "gateway_allowed_prefixes" {
  type        = list(string)
  description = "Address prefixes of the peer clusters whose east-west traffic enters through the gateway."

  validation {
    condition     = length(var.gateway_allowed_prefixes) > 0 && alltrue([for c in var.gateway_allowed_prefixes : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "Give at least one CIDR prefix; 0.0.0.0/0 is refused."
  }
}

variable "key_vault_allowed_ips" {
  type        = list(string)
  description = "Public addresses (CIDR) from which Terraform writes the Key Vault secrets; the vault's firewall denies every other public address."

  validation {
    condition     = alltrue([for c in var.key_vault_allowed_ips : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "Each entry is a CIDR block; 0.0.0.0/0 is refused."
  }
}

variable "provider_name" {
  type        = string
  description = "Name of this deployment's Azure discovery provider (providers[].name)."
  default     = "azure"
}

variable "redis_capacity" {
  type        = number
  description = "Size of the Standard (replicated) Azure Cache for Redis, C0-C6."
  default     = 1

  validation {
    condition     = var.redis_capacity >= 0 && var.redis_capacity <= 6
    error_message = "redis_capacity is 0-6."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource."
  default     = {}
}
