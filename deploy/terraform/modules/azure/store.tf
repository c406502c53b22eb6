resource "azurerm_redis_cache" "store" {
  name                          = "${var.name}-${random_string.suffix.result}"
  resource_group_name           = var.resource_group_name
  location                      = var.location
  sku_name                      = "Standard"
  family                        = "C"
  capacity                      = var.redis_capacity
  redis_version                 = "6"
  minimum_tls_version           = "1.2"
  non_ssl_port_enabled          = false
  public_network_access_enabled = false
  tags                          = local.tags

  redis_configuration {
    authentication_enabled = true
    # Azure Cache defaults to volatile-lru; meshfed's state must never be evicted.
    maxmemory_policy = "noeviction"
  }
}

resource "azurerm_private_endpoint" "redis" {
  name                = "${var.name}-redis"
  resource_group_name = var.resource_group_name
  location            = var.location
  subnet_id           = var.subnet_id
  tags                = local.tags

  private_service_connection {
    name                           = "redis"
    private_connection_resource_id = azurerm_redis_cache.store.id
    subresource_names              = ["redisCache"]
    is_manual_connection           = false
  }

  private_dns_zone_group {
    name                 = "redis"
    private_dns_zone_ids = [azurerm_private_dns_zone.meshfed["privatelink.redis.cache.windows.net"].id]
  }
}
