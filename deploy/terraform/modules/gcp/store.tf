resource "google_redis_instance" "store" {
  name                    = "${var.name}-store"
  project                 = var.project_id
  region                  = var.region
  tier                    = "STANDARD_HA"
  memory_size_gb          = var.redis_memory_size_gb
  redis_version           = "REDIS_7_0"
  authorized_network      = var.network
  auth_enabled            = true
  transit_encryption_mode = "SERVER_AUTHENTICATION"
  labels                  = local.labels
  # Memorystore defaults to volatile-lru; meshfed's state must never be evicted.
  redis_configs = {
    "maxmemory-policy" = "noeviction"
  }

  persistence_config {
    persistence_mode    = "RDB"
    rdb_snapshot_period = "ONE_HOUR"
  }
}
