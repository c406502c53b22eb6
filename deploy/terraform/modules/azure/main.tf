data "azurerm_client_config" "current" {}

resource "random_string" "suffix" {
  length  = 6
  special = false
  upper   = false
}

locals {
  tags = merge(var.tags, { "meshfed-deployment" = var.name })
}

resource "azurerm_user_assigned_identity" "meshfed" {
  name                = "${var.name}-meshfed"
  resource_group_name = var.resource_group_name
  location            = var.location
  tags                = local.tags
}

resource "azurerm_linux_virtual_machine_scale_set" "meshfed" {
  name                            = var.name
  resource_group_name             = var.resource_group_name
  location                        = var.location
  sku                             = var.vm_size
  instances                       = var.instances
  zones                           = length(var.zones) > 0 ? var.zones : null
  admin_username                  = var.admin_username
  disable_password_authentication = true
  encryption_at_host_enabled      = var.encryption_at_host
  upgrade_mode                    = "Rolling"
  health_probe_id                 = azurerm_lb_probe.readyz.id
  extension_operations_enabled    = false
  tags                            = local.tags
  custom_data = base64gzip(templatefile("${path.module}/templates/custom-data.sh.tftpl", {
    meshfed_version   = module.config.meshfed_version
    meshfed_config    = module.config.meshfed_config
    bundle_dir        = module.config.bundle_dir
    bootstrap_bundles = module.config.bootstrap_bundles
    identity_id       = azurerm_user_assigned_identity.meshfed.client_id
    vault_uri         = azurerm_key_vault.meshfed.vault_uri
    kek_secret        = azurerm_key_vault_secret.kek.name
    redis_secret      = azurerm_key_vault_secret.redis_auth.name
    tokens_secret     = azurerm_key_vault_secret.api_tokens.name
    gateway_cluster   = var.gateway_cluster
    gateway_port      = var.gateway_port
  }))

  admin_ssh_key {
    username   = var.admin_username
    public_key = var.admin_ssh_public_key
  }

  source_image_reference {
    publisher = "Debian"
    offer     = "debian-12"
    sku       = "12-gen2"
    version   = "latest"
  }

  os_disk {
    storage_account_type = "Premium_LRS"
    caching              = "ReadWrite"
    disk_size_gb         = 30
  }

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.meshfed.id]
  }

  # No public_ip_address block: the instances are reachable only through the internal LB.
  network_interface {
    name                      = "${var.name}-nic"
    primary                   = true
    network_security_group_id = azurerm_network_security_group.meshfed.id

    ip_configuration {
      name                                   = "internal"
      primary                                = true
      subnet_id                              = var.subnet_id
      load_balancer_backend_address_pool_ids = [azurerm_lb_backend_address_pool.meshfed.id]
    }
  }

  rolling_upgrade_policy {
    max_batch_instance_percent              = 50
    max_unhealthy_instance_percent          = 50
    max_unhealthy_upgraded_instance_percent = 50
    pause_time_between_batches              = "PT1M"
  }

  automatic_instance_repair {
    enabled      = true
    grace_period = "PT10M"
  }

  boot_diagnostics {}

  depends_on = [azurerm_lb_rule.meshfed]
}
