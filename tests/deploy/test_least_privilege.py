"""The identities the modules create may read what discovery needs and their own secrets,
and change nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.deploy.terraform import (
    locals_of,
    module_dir,
    resource_kinds,
    resources,
    unwrap,
    variables,
)

AWS = module_dir("aws")
GCP = module_dir("gcp")
AZURE = module_dir("azure")

READ_ACTION = re.compile(r"^[a-z0-9-]+:(Describe|List|Get|Discover)[A-Za-z]+$")
# What providers/aws.py calls; without these discovery finds nothing.
DISCOVERY_NEEDS = {
    "ec2:DescribeInstances",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeTags",
    "servicediscovery:ListNamespaces",
    "servicediscovery:ListServices",
    "servicediscovery:ListTagsForResource",
    "servicediscovery:ListInstances",
    "servicediscovery:DiscoverInstances",
}
OWN_SECRETS = {
    "${aws_secretsmanager_secret.kek.arn}",
    "${aws_secretsmanager_secret.redis_auth.arn}",
    "${aws_secretsmanager_secret.api_tokens.arn}",
}


def _role_policy_documents() -> dict[str, list[dict[str, Any]]]:
    """Statements of every policy document attached to the replicas' role, by policy name."""
    documents = resources(AWS, "data.aws_iam_policy_document")
    attached = {}
    for name, policy in resources(AWS, "aws_iam_role_policy").items():
        assert unwrap(policy["role"]) == "aws_iam_role.meshfed.id"
        reference = re.fullmatch(
            r"data\.aws_iam_policy_document\.(\w+)\.json", unwrap(policy["policy"])
        )
        assert reference, f"aws_iam_role_policy.{name} must use an aws_iam_policy_document"
        attached[name] = documents[reference[1]]["statement"]
    return attached


def _actions(statement: dict[str, Any]) -> list[str]:
    assert "not_actions" not in statement and "not_resources" not in statement
    assert statement.get("effect", "Allow") == "Allow"
    return list(statement["actions"])


def test_aws_role_has_only_inline_policies_built_from_policy_documents() -> None:
    assert "aws_iam_policy" not in resource_kinds(AWS)
    assert sorted(_role_policy_documents()) == ["discovery", "own_logs", "own_secrets"]


def test_aws_discovery_policy_allows_only_named_read_actions() -> None:
    actions = [a for s in _role_policy_documents()["discovery"] for a in _actions(s)]
    assert actions, "no discovery actions"
    for action in actions:
        assert "*" not in action, f"{action}: name every action, no wildcards"
        assert READ_ACTION.match(action), f"{action} is not a read action"
    assert set(actions) >= DISCOVERY_NEEDS, f"missing {DISCOVERY_NEEDS - set(actions)}"


def test_aws_role_reads_only_its_own_secrets_through_its_own_key() -> None:
    statements = _role_policy_documents()["own_secrets"]
    by_action = {tuple(_actions(s)): s for s in statements}
    assert set(by_action) == {("secretsmanager:GetSecretValue",), ("kms:Decrypt",)}
    assert set(by_action[("secretsmanager:GetSecretValue",)]["resources"]) == OWN_SECRETS
    decrypt = by_action[("kms:Decrypt",)]
    assert decrypt["resources"] == ["${aws_kms_key.meshfed.arn}"]
    (condition,) = decrypt["condition"]
    assert condition["variable"] == "kms:ViaService"
    assert condition["values"] == ["secretsmanager.${data.aws_region.current.name}.amazonaws.com"]


def test_aws_role_writes_nothing_but_its_own_log_streams() -> None:
    (statement,) = _role_policy_documents()["own_logs"]
    assert sorted(_actions(statement)) == [
        "logs:CreateLogStream",
        "logs:DescribeLogStreams",
        "logs:PutLogEvents",
    ]
    assert statement["resources"] == ["${aws_cloudwatch_log_group.meshfed.arn}:*"]


def test_aws_session_manager_policy_is_opt_in() -> None:
    attachments = resources(AWS, "aws_iam_role_policy_attachment")
    assert sorted(attachments) == ["session_manager"]
    attachment = attachments["session_manager"]
    assert unwrap(attachment["count"]) == "var.enable_session_manager ? 1 : 0"
    assert variables(AWS)["enable_session_manager"]["default"] is False


def test_gcp_service_account_gets_compute_viewer_and_its_own_secrets_only() -> None:
    iam_kinds = {k for k in resource_kinds(GCP) if "_iam_" in k}
    assert iam_kinds == {"google_project_iam_member", "google_secret_manager_secret_iam_member"}
    member = "serviceAccount:${google_service_account.meshfed.email}"
    (project_binding,) = resources(GCP, "google_project_iam_member").values()
    assert project_binding["role"] == "roles/compute.viewer"
    assert project_binding["member"] == member
    assert unwrap(project_binding["for_each"]) == "toset(var.discovery_projects)"
    (secret_binding,) = resources(GCP, "google_secret_manager_secret_iam_member").values()
    assert secret_binding["role"] == "roles/secretmanager.secretAccessor"
    assert secret_binding["member"] == member
    assert unwrap(secret_binding["for_each"]) == "google_secret_manager_secret.meshfed"


def test_gcp_instances_run_as_the_dedicated_service_account() -> None:
    template = resources(GCP, "google_compute_instance_template")["meshfed"]
    (account,) = template["service_account"]
    assert unwrap(account["email"]) == "google_service_account.meshfed.email"


def test_azure_identity_is_reader_on_network_groups_and_secrets_user_on_its_vault() -> None:
    assert "azurerm_role_definition" not in resource_kinds(AZURE)
    identity = "azurerm_user_assigned_identity.meshfed.principal_id"
    granted = {}
    for name, assignment in resources(AZURE, "azurerm_role_assignment").items():
        assert "role_definition_id" not in assignment, f"{name}: use a built-in role by name"
        granted[name] = (
            assignment["role_definition_name"],
            unwrap(assignment["principal_id"]),
            unwrap(assignment["scope"]),
            unwrap(assignment.get("for_each", "")),
        )
    assert granted == {
        "network_reader": (
            "Reader",
            identity,
            "each.value",
            "toset(var.network_resource_group_ids)",
        ),
        "own_secrets": (
            "Key Vault Secrets User",
            identity,
            "azurerm_key_vault.meshfed.id",
            "",
        ),
        # The principal running Terraform, not meshfed: it writes the secrets.
        "deployer_secrets_officer": (
            "Key Vault Secrets Officer",
            "data.azurerm_client_config.current.object_id",
            "azurerm_key_vault.meshfed.id",
            "",
        ),
    }


def test_azure_scale_set_runs_as_the_user_assigned_identity_only() -> None:
    scale_set = resources(AZURE, "azurerm_linux_virtual_machine_scale_set")["meshfed"]
    (identity,) = scale_set["identity"]
    assert identity["type"] == "UserAssigned"
    assert [unwrap(i) for i in identity["identity_ids"]] == [
        "azurerm_user_assigned_identity.meshfed.id"
    ]


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_ingress_ranges_have_no_default_and_refuse_the_whole_internet(cloud: str) -> None:
    declared = variables(module_dir(cloud))
    ingress = {
        n: b for n, b in declared.items() if re.search(r"_allowed_(cidrs|ranges|prefixes)$", n)
    }
    assert {n.split("_allowed_")[0] for n in ingress} == {"api", "bundle", "gateway"}
    for name, body in ingress.items():
        assert "default" not in body, f"{name} must be given, not defaulted"
        conditions = " ".join(v["condition"] for v in body["validation"])
        assert '!= "0.0.0.0/0"' in conditions, f"{name} must refuse 0.0.0.0/0"


def test_aws_ingress_comes_only_from_the_allowed_cidrs_the_nlb_subnets_and_the_replicas() -> None:
    assert locals_of(AWS)["ingress_cidrs"] == {
        "api": "${var.api_allowed_cidrs}",
        "bundle": "${var.bundle_allowed_cidrs}",
        "gateway": "${var.gateway_allowed_cidrs}",
    }
    sources = {
        name: unwrap(rule.get("cidr_ipv4") or rule["referenced_security_group_id"])
        for name, rule in resources(AWS, "aws_vpc_security_group_ingress_rule").items()
    }
    assert sources == {
        "meshfed": "each.value.cidr",
        "health_checks": "each.value.cidr_block",
        "redis": "aws_security_group.meshfed.id",
    }


def test_gcp_firewall_admits_the_allowed_ranges_and_googles_health_checkers_only() -> None:
    ingress = str(locals_of(GCP)["ingress"])
    assert re.findall(r"ranges = ([\w.]+)", ingress) == [
        "var.api_allowed_ranges",
        "var.bundle_allowed_ranges",
        "var.gateway_allowed_ranges",
    ]
    firewalls = resources(GCP, "google_compute_firewall")
    assert unwrap(firewalls["meshfed"]["source_ranges"]) == "each.value.ranges"
    assert firewalls["health_checks"]["source_ranges"] == ["35.191.0.0/16", "130.211.0.0/22"]
    assert all(f["direction"] == "INGRESS" for f in firewalls.values())


def test_azure_nsg_admits_the_allowed_prefixes_and_the_probe_and_denies_the_rest() -> None:
    rules = resources(AZURE, "azurerm_network_security_rule")
    assert unwrap(rules["allow"]["source_address_prefixes"]) == "each.value.prefixes"
    assert rules["probe"]["source_address_prefix"] == "AzureLoadBalancer"
    deny = rules["deny_rest"]
    assert (deny["access"], deny["direction"], deny["source_address_prefix"]) == (
        "Deny",
        "Inbound",
        "*",
    )
    allows = [r for r in rules.values() if r["access"] == "Allow"]
    assert all(r["priority"] < deny["priority"] for r in allows if isinstance(r["priority"], int))
