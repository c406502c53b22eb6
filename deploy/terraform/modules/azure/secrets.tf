resource "azurerm_key_vault" "meshfed" {
  #checkov:skip=CKV_AZURE_189:Terraform writes the secrets from the addresses in key_vault_allowed_ips; the firewall denies every other public address and the replicas use the private endpoint
  name                          = "${var.name}-${random_string.suffix.result}"
  resource_group_name           = var.resource_group_name
  location                      = var.location
  tenant_id                     = data.azurerm_client_config.current.tenant_id
  sku_name                      = "standard"
  enable_rbac_authorization     = true
  purge_protection_enabled      = true
  soft_delete_retention_days    = 90
  public_network_access_enabled = true
  tags                          = local.tags

  network_acls {
    default_action = "Deny"
    bypass         = "None"
    ip_rules       = var.key_vault_allowed_ips
  }
}

resource "azurerm_private_endpoint" "key_vault" {
  name                = "${var.name}-kv"
  resource_group_name = var.resource_group_name
  location            = var.location
  subnet_id           = var.subnet_id
  tags                = local.tags

  private_service_connection {
    name                           = "vault"
    private_connection_resource_id = azurerm_key_vault.meshfed.id
    subresource_names              = ["vault"]
    is_manual_connection           = false
  }

  private_dns_zone_group {
    name                 = "vault"
    private_dns_zone_ids = [azurerm_private_dns_zone.meshfed["privatelink.vaultcore.azure.net"].id]
  }
}

# 32 random bytes, base64: the key-encryption key that seals the CA keys in the store.
resource "random_bytes" "kek" {
  length = 32
}

# Lets the operator call the admin API before any `meshfed token create`; only its hash leaves Terraform state.
resource "random_password" "bootstrap_admin_token" {
  length  = 48
  special = false
}

resource "azurerm_key_vault_secret" "kek" {
  #checkov:skip=CKV_AZURE_41:an expired KEK could no longer be read and the sealed CA keys would be lost; it is rotated with `meshfed trust rotate`
  name         = "meshfed-kek"
  key_vault_id = azurerm_key_vault.meshfed.id
  value        = random_bytes.kek.base64
  content_type = "meshfed KEK, 32 bytes base64 (MESHFED_KEK)"
  tags         = local.tags

  depends_on = [azurerm_role_assignment.deployer_secrets_officer]
}

resource "azurerm_key_vault_secret" "redis_auth" {
  #checkov:skip=CKV_AZURE_41:the access key's lifetime is Redis's, regenerated there and rewritten here by Terraform; an expiry here would only stop the replicas
  name         = "meshfed-redis-auth"
  key_vault_id = azurerm_key_vault.meshfed.id
  value        = azurerm_redis_cache.store.primary_access_key
  content_type = "Azure Cache for Redis access key (MESHFED_REDIS_AUTH)"
  tags         = local.tags

  depends_on = [azurerm_role_assignment.deployer_secrets_officer]
}

resource "azurerm_key_vault_secret" "api_tokens" {
  #checkov:skip=CKV_AZURE_41:holds SHA-256 hashes of API tokens; a token is retired by removing it from api_tokens, not by expiring the list
  name         = "meshfed-api-tokens"
  key_vault_id = azurerm_key_vault.meshfed.id
  content_type = "application/json; meshfed api.tokens"
  tags         = local.tags
  value = jsonencode(concat(module.config.api_tokens, [{
    name   = "bootstrap-admin"
    role   = "admin"
    sha256 = sha256(random_password.bootstrap_admin_token.result)
  }]))

  depends_on = [azurerm_role_assignment.deployer_secrets_officer]
}
