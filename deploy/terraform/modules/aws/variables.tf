variable "name" {
  type        = string
  description = "Prefix of every resource this module creates; also the Redis replication group id."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,28}[a-z0-9]$", var.name))
    error_message = "name is 3-30 lowercase letters, digits and '-', starting with a letter."
  }
}

variable "vpc_id" {
  type        = string
  description = "VPC the instances, the load balancer and Redis live in."

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id looks like vpc-0123456789abcdef0."
  }
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets, in at least two availability zones, for the instances, the internal NLB and Redis."

  validation {
    condition     = length(var.subnet_ids) >= 2 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "Give at least two subnet ids (subnet-…) in different availability zones."
  }
}

variable "instance_type" {
  type        = string
  description = "EC2 instance type of the meshfed replicas."
  default     = "t3.medium"
}

variable "ami_ssm_parameter" {
  type        = string
  description = "SSM public parameter naming the Amazon Linux 2023 AMI the replicas boot."
  default     = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

variable "min_size" {
  type        = number
  description = "Fewest replicas; one of them holds the discovery lease."
  default     = 2

  validation {
    condition     = var.min_size >= 1
    error_message = "min_size is at least 1."
  }
}

variable "max_size" {
  type        = number
  description = "Most replicas."
  default     = 4

  validation {
    condition     = var.max_size >= 1
    error_message = "max_size is at least 1."
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

variable "api_allowed_cidrs" {
  type        = list(string)
  description = "CIDR blocks that may reach the admin API (operators, CI, gateways, Terraform)."

  validation {
    condition     = length(var.api_allowed_cidrs) > 0 && alltrue([for c in var.api_allowed_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "Give at least one CIDR block; 0.0.0.0/0 is refused for the admin API."
  }
}

variable "bundle_allowed_cidrs" {
  type        = list(string)
  description = "CIDR blocks that may fetch the SPIFFE bundle (the federated meshfed deployments)."

  validation {
    condition     = length(var.bundle_allowed_cidrs) > 0 && alltrue([for c in var.bundle_allowed_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "Give at least one CIDR block; 0.0.0.0/0 is refused."
  }
}

variable "gateway_allowed_cidrs" {
  type        = list(string)
  description = "CIDR blocks of the peer clusters whose east-west traffic enters through the gateway."

  validation {
    condition     = length(var.gateway_allowed_cidrs) > 0 && alltrue([for c in var.gateway_allowed_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "Give at least one CIDR block; 0.0.0.0/0 is refused."
  }
}

variable "egress_https_cidrs" {
  type        = list(string)
  description = "Where replicas may open HTTPS connections: the AWS APIs (or their VPC endpoints), PyPI at boot, and the federated bundle endpoints."
  default     = ["0.0.0.0/0"]

  validation {
    condition     = alltrue([for c in var.egress_https_cidrs : can(cidrhost(c, 0))])
    error_message = "Each entry is a CIDR block."
  }
}

variable "provider_name" {
  type        = string
  description = "Name of this deployment's AWS discovery provider (providers[].name)."
  default     = "aws"
}

variable "discovery_regions" {
  type        = list(string)
  description = "AWS regions the discovery provider lists mesh endpoints in."

  validation {
    condition     = length(var.discovery_regions) > 0 && alltrue([for r in var.discovery_regions : can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", r))])
    error_message = "Give at least one AWS region code such as us-east-1."
  }
}

variable "redis_node_type" {
  type        = string
  description = "ElastiCache node type of the store."
  default     = "cache.t4g.small"
}

variable "redis_replicas" {
  type        = number
  description = "Read replicas per shard; at least one for automatic failover."
  default     = 1

  validation {
    condition     = var.redis_replicas >= 1 && var.redis_replicas <= 5
    error_message = "redis_replicas is 1-5: failover needs a replica."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Days CloudWatch keeps meshfed's logs."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days is one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, … 365, 400, …)."
  }
}

variable "enable_session_manager" {
  type        = bool
  description = "Attach AmazonSSMManagedInstanceCore so operators can open a shell with SSM Session Manager (for `meshfed token create`). Off by default: it grants more than discovery needs."
  default     = false
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource."
  default     = {}
}
