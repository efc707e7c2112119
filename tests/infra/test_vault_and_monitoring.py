"""Key Vault (RBAC only, secrets cannot be lost early) and telemetry that accepts no keys."""

from __future__ import annotations

import pytest

from tests.infra.bicep import MAIN, decorator, one, parse, resources

pytestmark = pytest.mark.infra

VAULT = "Microsoft.KeyVault/vaults"


def test_key_vault_uses_rbac_not_access_policies() -> None:
    vault = one(VAULT).properties
    assert vault["enableRbacAuthorization"] is True
    assert "accessPolicies" not in vault


def test_key_vault_has_soft_delete_and_purge_protection() -> None:
    vault = one(VAULT).properties
    assert vault["enableSoftDelete"] is True
    assert vault["enablePurgeProtection"] is True
    assert vault["softDeleteRetentionInDays"] >= 7


def test_app_secrets_live_in_the_vault_with_a_content_type() -> None:
    secrets = resources(f"{VAULT}/secrets")
    names = {s.body["name"] for s in secrets}
    assert names == {"webhookSecretName", "contactHashKeySecretName", "graphClientSecretName"}
    for secret in secrets:
        assert secret.body["parent"] == "vault"
        assert secret.properties["contentType"], secret.symbol


def test_graph_client_secret_is_stored_only_when_one_is_given() -> None:
    (graph,) = [s for s in resources(f"{VAULT}/secrets") if s.symbol == "graphSecret"]
    assert graph.condition == {
        "operator": {
            "type": "not",
            "operands": {
                "bool_value": {
                    "function": {"type": "empty", "parameters": {"item_to_test": "graphClientSecret"}}
                }
            },
        }
    }


def test_the_vault_name_takes_a_suffix_so_azd_up_after_azd_down_gets_a_new_vault() -> None:
    # A deleted vault keeps its name for 90 days (purge protection), so the same name cannot be created again.
    assert parse(MAIN)["modules"]["keyVault"]["config"]["params"]["name"] == "keyVaultName"
    assert parse(MAIN)["variables"]["keyVaultName"]["value"] == {
        "operator": {
            "type": "conditional",
            "operands": {
                "condition": {
                    "function": {"type": "empty", "parameters": {"item_to_test": "keyVaultNameSuffix"}}
                },
                "true_value": "kv-${resourceToken}",
                "false_value": "kv-${resourceToken}-${keyVaultNameSuffix}",
            },
        }
    }
    assert parse(MAIN)["parameters"]["keyVaultNameSuffix"]["default"] == ""


def test_the_longest_suffix_keeps_the_vault_name_within_24_characters() -> None:
    # `kv-` + uniqueString (13 characters) + `-` + suffix: Key Vault names are 3 to 24 characters.
    assert len("kv-") + 13 + len("-") + decorator(MAIN, "keyVaultNameSuffix", "max_length") <= 24


def test_log_analytics_accepts_no_shared_keys() -> None:
    workspace = one("Microsoft.OperationalInsights/workspaces").properties
    assert workspace["features"]["disableLocalAuth"] is True


def test_application_insights_accepts_only_entra_authenticated_telemetry() -> None:
    insights = one("Microsoft.Insights/components").properties
    assert insights["DisableLocalAuth"] is True
    assert insights["WorkspaceResourceId"] == {
        "operator": {
            "type": "property_accessor",
            "operands": {"operand_1": "logAnalytics", "operand_2": "id"},
        }
    }
