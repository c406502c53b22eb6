resource "aws_security_group" "redis" {
  name_prefix = "${var.name}-redis-"
  description = "meshfed store: Redis from the meshfed replicas only"
  vpc_id      = var.vpc_id
  tags        = local.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "redis" {
  security_group_id            = aws_security_group.redis.id
  description                  = "Redis (TLS) from the meshfed replicas"
  ip_protocol                  = "tcp"
  from_port                    = local.redis_port
  to_port                      = local.redis_port
  referenced_security_group_id = aws_security_group.meshfed.id
}

resource "aws_elasticache_subnet_group" "store" {
  name       = "${var.name}-store"
  subnet_ids = var.subnet_ids
  tags       = local.tags
}

# ElastiCache defaults to volatile-lru; meshfed's state must never be evicted, so a full
# Redis refuses writes instead (meshfed reports that as the store being unavailable).
resource "aws_elasticache_parameter_group" "store" {
  name        = "${var.name}-store"
  family      = "redis7"
  description = "meshfed store: no eviction"
  tags        = local.tags

  parameter {
    name  = "maxmemory-policy"
    value = "noeviction"
  }
}

resource "aws_elasticache_replication_group" "store" {
  replication_group_id       = var.name
  description                = "meshfed store for ${module.config.federation_name}"
  engine                     = "redis"
  engine_version             = "7.1"
  node_type                  = var.redis_node_type
  port                       = local.redis_port
  num_cache_clusters         = 1 + var.redis_replicas
  automatic_failover_enabled = true
  multi_az_enabled           = true
  subnet_group_name          = aws_elasticache_subnet_group.store.name
  parameter_group_name       = aws_elasticache_parameter_group.store.name
  security_group_ids         = [aws_security_group.redis.id]
  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.meshfed.arn
  transit_encryption_enabled = true
  auth_token                 = random_password.redis_auth.result
  snapshot_retention_limit   = 7
  apply_immediately          = false
  auto_minor_version_upgrade = true
  tags                       = local.tags
}
