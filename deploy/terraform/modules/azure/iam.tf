# Discovery reads load balancers, NICs and public IPs; Reader on the groups that hold the
# networks is the whole of what the identity may see.
resource "azurerm_role_assignment" "network_reader" {
  for_each = toset(var.network_resource_group_ids)

  scope                = each.value
  role_definition_name = "Reader"
  principal_id         = azurerm_user_assigned_identity.meshfed.principal_id
  principal_type       = "ServicePrincipal"
}

# The vault holds only this deployment's secrets, so the vault is their scope.
resource "azurerm_role_assignment" "own_secrets" {
  scope                = azurerm_key_vault.meshfed.id
  role_definition_name = "Key Vault Secrets User"
  principal_id         = azurerm_user_assigned_identity.meshfed.principal_id
  principal_type       = "ServicePrincipal"
}

# Whoever runs Terraform writes the secrets; an RBAC vault grants no data access to Owner.
resource "azurerm_role_assignment" "deployer_secrets_officer" {
  scope                = azurerm_key_vault.meshfed.id
  role_definition_name = "Key Vault Secrets Officer"
  principal_id         = data.azurerm_client_config.current.object_id
}
