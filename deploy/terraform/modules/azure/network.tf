resource "azurerm_lb" "meshfed" {
  name                = var.name
  resource_group_name = var.resource_group_name
  location            = var.location
  sku                 = "Standard"
  tags                = local.tags

  frontend_ip_configuration {
    name                          = "internal"
    subnet_id                     = var.subnet_id
    private_ip_address_allocation = "Dynamic"
    zones                         = length(var.zones) > 0 ? var.zones : null
  }
}

resource "azurerm_lb_backend_address_pool" "meshfed" {
  name            = "meshfed"
  loadbalancer_id = azurerm_lb.meshfed.id
}

resource "azurerm_lb_probe" "readyz" {
  name                = "readyz"
  loadbalancer_id     = azurerm_lb.meshfed.id
  protocol            = "Http"
  port                = var.api_port
  request_path        = "/readyz"
  interval_in_seconds = 10
  number_of_probes    = 2
}

resource "azurerm_lb_rule" "meshfed" {
  for_each = module.config.listeners

  name                           = each.key
  loadbalancer_id                = azurerm_lb.meshfed.id
  protocol                       = "Tcp"
  frontend_port                  = each.value
  backend_port                   = each.value
  frontend_ip_configuration_name = "internal"
  backend_address_pool_ids       = [azurerm_lb_backend_address_pool.meshfed.id]
  probe_id                       = azurerm_lb_probe.readyz.id
  disable_outbound_snat          = true
}

locals {
  nsg_rules = merge(
    {
      api    = { priority = 100, port = var.api_port, prefixes = var.api_allowed_prefixes }
      bundle = { priority = 110, port = var.bundle_port, prefixes = var.bundle_allowed_prefixes }
    },
    var.gateway_cluster == "" ? {} : { gateway = { priority = 120, port = var.gateway_port, prefixes = var.gateway_allowed_prefixes } },
  )
}

resource "azurerm_network_security_group" "meshfed" {
  name                = "${var.name}-meshfed"
  resource_group_name = var.resource_group_name
  location            = var.location
  tags                = local.tags
}

resource "azurerm_network_security_rule" "allow" {
  for_each = local.nsg_rules

  name                        = "allow-${each.key}"
  resource_group_name         = var.resource_group_name
  network_security_group_name = azurerm_network_security_group.meshfed.name
  priority                    = each.value.priority
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = "Tcp"
  source_port_range           = "*"
  destination_port_range      = tostring(each.value.port)
  source_address_prefixes     = each.value.prefixes
  destination_address_prefix  = "*"
}

resource "azurerm_network_security_rule" "probe" {
  name                        = "allow-lb-probe"
  resource_group_name         = var.resource_group_name
  network_security_group_name = azurerm_network_security_group.meshfed.name
  priority                    = 200
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = "Tcp"
  source_port_range           = "*"
  destination_port_range      = tostring(var.api_port)
  source_address_prefix       = "AzureLoadBalancer"
  destination_address_prefix  = "*"
}

# The default rules let the whole virtual network in; only the ports above may enter.
resource "azurerm_network_security_rule" "deny_rest" {
  name                        = "deny-other-inbound"
  resource_group_name         = var.resource_group_name
  network_security_group_name = azurerm_network_security_group.meshfed.name
  priority                    = 4000
  direction                   = "Inbound"
  access                      = "Deny"
  protocol                    = "*"
  source_port_range           = "*"
  destination_port_range      = "*"
  source_address_prefix       = "*"
  destination_address_prefix  = "*"
}

resource "azurerm_private_dns_zone" "meshfed" {
  for_each = toset(["privatelink.redis.cache.windows.net", "privatelink.vaultcore.azure.net"])

  name                = each.value
  resource_group_name = var.resource_group_name
  tags                = local.tags
}

resource "azurerm_private_dns_zone_virtual_network_link" "meshfed" {
  for_each = azurerm_private_dns_zone.meshfed

  name                  = "${var.name}-${replace(each.key, ".", "-")}"
  resource_group_name   = var.resource_group_name
  private_dns_zone_name = each.value.name
  virtual_network_id    = var.virtual_network_id
  tags                  = local.tags
}
