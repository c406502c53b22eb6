"""The settings the deployment promises, pinned one by one, whatever checkov's version checks."""

from __future__ import annotations

from typing import Any

from tests.deploy.terraform import module_dir, resources, unwrap

AWS = module_dir("aws")
GCP = module_dir("gcp")
AZURE = module_dir("azure")


def _one(blocks: Any) -> dict[str, Any]:
    (block,) = blocks
    assert isinstance(block, dict)
    return block


def test_aws_redis_uses_tls_at_rest_encryption_auth_and_failover() -> None:
    store = resources(AWS, "aws_elasticache_replication_group")["store"]
    assert store["transit_encryption_enabled"] is True
    assert store["at_rest_encryption_enabled"] is True
    assert unwrap(store["auth_token"]) == "random_password.redis_auth.result"
    assert store["automatic_failover_enabled"] is True and store["multi_az_enabled"] is True


def test_aws_instances_require_imdsv2_encrypt_ebs_and_have_no_public_address() -> None:
    template = resources(AWS, "aws_launch_template")["meshfed"]
    metadata = _one(template["metadata_options"])
    assert metadata["http_tokens"] == "required"
    assert metadata["http_put_response_hop_limit"] == 1
    ebs = _one(_one(template["block_device_mappings"])["ebs"])
    assert ebs["encrypted"] is True
    assert _one(template["network_interfaces"])["associate_public_ip_address"] is False


def test_aws_load_balancer_is_internal_and_checks_readyz() -> None:
    assert resources(AWS, "aws_lb")["meshfed"]["internal"] is True
    health = _one(resources(AWS, "aws_lb_target_group")["meshfed"]["health_check"])
    assert (health["protocol"], health["path"]) == ("HTTP", "/readyz")


def test_aws_secrets_are_encrypted_with_the_modules_key() -> None:
    secrets = resources(AWS, "aws_secretsmanager_secret")
    assert sorted(secrets) == ["api_tokens", "kek", "redis_auth"]
    for secret in secrets.values():
        assert unwrap(secret["kms_key_id"]) == "aws_kms_key.meshfed.arn"
    assert resources(AWS, "aws_kms_key")["meshfed"]["enable_key_rotation"] is True


def test_gcp_memorystore_is_highly_available_with_tls_and_auth() -> None:
    store = resources(GCP, "google_redis_instance")["store"]
    assert store["tier"] == "STANDARD_HA"
    assert store["transit_encryption_mode"] == "SERVER_AUTHENTICATION"
    assert store["auth_enabled"] is True


def test_gcp_instances_are_shielded_use_os_login_and_have_no_external_address() -> None:
    template = resources(GCP, "google_compute_instance_template")["meshfed"]
    shielded = _one(template["shielded_instance_config"])
    assert all(shielded[k] is True for k in ("enable_secure_boot", "enable_vtpm"))
    assert "access_config" not in _one(template["network_interface"])
    assert template["metadata"]["enable-oslogin"] == "TRUE"
    assert template["metadata"]["block-project-ssh-keys"] == "true"


def test_gcp_load_balancer_is_internal_and_checks_readyz() -> None:
    assert resources(GCP, "google_compute_forwarding_rule")["meshfed"]["load_balancing_scheme"] == (
        "INTERNAL"
    )
    check = _one(
        resources(GCP, "google_compute_region_health_check")["readyz"]["http_health_check"]
    )
    assert check["request_path"] == "/readyz"


def test_azure_redis_accepts_only_tls_1_2_over_its_private_endpoint() -> None:
    store = resources(AZURE, "azurerm_redis_cache")["store"]
    assert store["minimum_tls_version"] == "1.2"
    assert store["non_ssl_port_enabled"] is False
    assert store["public_network_access_enabled"] is False
    assert _one(store["redis_configuration"])["authentication_enabled"] is True


def test_azure_key_vault_uses_rbac_purge_protection_and_soft_delete() -> None:
    vault = resources(AZURE, "azurerm_key_vault")["meshfed"]
    assert vault["enable_rbac_authorization"] is True
    assert vault["purge_protection_enabled"] is True
    assert vault["soft_delete_retention_days"] >= 7
    assert _one(vault["network_acls"])["default_action"] == "Deny"


def test_azure_scale_set_logs_in_by_ssh_key_only_and_has_no_public_address() -> None:
    scale_set = resources(AZURE, "azurerm_linux_virtual_machine_scale_set")["meshfed"]
    assert scale_set["disable_password_authentication"] is True
    assert "admin_password" not in scale_set
    assert "public_ip_address" not in _one(_one(scale_set["network_interface"])["ip_configuration"])
    assert unwrap(scale_set["health_probe_id"]) == "azurerm_lb_probe.readyz.id"


def test_azure_load_balancer_is_internal_and_probes_readyz() -> None:
    frontend = _one(resources(AZURE, "azurerm_lb")["meshfed"]["frontend_ip_configuration"])
    assert "public_ip_address_id" not in frontend and "subnet_id" in frontend
    probe = resources(AZURE, "azurerm_lb_probe")["readyz"]
    assert (probe["protocol"], probe["request_path"]) == ("Http", "/readyz")


def test_every_modules_redis_refuses_writes_when_full_instead_of_evicting() -> None:
    # Any eviction policy may silently drop config, keys or audit records.
    aws = resources(AWS, "aws_elasticache_parameter_group")["store"]
    assert aws["family"] == "redis7"
    assert {(p["name"], p["value"]) for p in aws["parameter"]} == {
        ("maxmemory-policy", "noeviction")
    }
    group = resources(AWS, "aws_elasticache_replication_group")["store"]["parameter_group_name"]
    assert unwrap(group) == "aws_elasticache_parameter_group.store.name"
    gcp = resources(GCP, "google_redis_instance")["store"]
    assert gcp["redis_configs"] == {"maxmemory-policy": "noeviction"}
    azure = _one(resources(AZURE, "azurerm_redis_cache")["store"]["redis_configuration"])
    assert azure["maxmemory_policy"] == "noeviction"
