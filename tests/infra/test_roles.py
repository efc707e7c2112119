"""The app identity's role assignments: exactly the five roles it needs, each scoped to its one resource, and
table data access on each data shard (modules/datashard.bicep)."""

from __future__ import annotations

import pytest

from tests.infra.bicep import MAIN, Resource, one, parse, resolve, resources

pytestmark = pytest.mark.infra

ASSIGNMENT = "Microsoft.Authorization/roleAssignments"
STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
STORAGE_QUEUE_DATA_CONTRIBUTOR = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
STORAGE_TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"


def test_each_role_is_assigned_on_its_own_resource_and_nothing_wider() -> None:
    assert {(_role(a), _scope_type(a)) for a in resources(ASSIGNMENT)} == {
        (STORAGE_BLOB_DATA_OWNER, "Microsoft.Storage/storageAccounts"),
        (STORAGE_QUEUE_DATA_CONTRIBUTOR, "Microsoft.Storage/storageAccounts"),
        (STORAGE_TABLE_DATA_CONTRIBUTOR, "Microsoft.Storage/storageAccounts"),
        (KEY_VAULT_SECRETS_USER, "Microsoft.KeyVault/vaults"),
        (MONITORING_METRICS_PUBLISHER, "Microsoft.Insights/components"),
    }
    assert len(resources(ASSIGNMENT)) == 6  # the shard module's one assignment, deployed once per shard


def test_a_data_shard_grants_table_data_access_on_that_shard_alone() -> None:
    (shard,) = [a for a in resources(ASSIGNMENT) if a.file.name == "datashard.bicep"]
    assert (_role(shard), shard.body["scope"]) == (STORAGE_TABLE_DATA_CONTRIBUTOR, "shard")


def test_every_assignment_has_an_explicit_resource_scope() -> None:
    # Without `scope` an assignment applies to the whole resource group it is deployed to.
    for assignment in resources(ASSIGNMENT):
        assert assignment.body.get("scope"), assignment.symbol


def test_scoped_resources_are_the_ones_main_bicep_deploys() -> None:
    rbac = parse(MAIN)["modules"]["rbac"]["config"]["params"]
    for param, module in [
        ("storageAccountName", "storage"),
        ("keyVaultName", "keyVault"),
        ("applicationInsightsName", "monitoring"),
    ]:
        assert rbac[param]["operator"]["operands"]["operand_1"] == module, param


def test_roles_go_to_the_app_identity_as_a_service_principal() -> None:
    rbac = parse(MAIN)["modules"]["rbac"]["config"]["params"]
    assert rbac["principalId"]["operator"]["operands"]["operand_1"] == "identity"
    for assignment in resources(ASSIGNMENT):
        assert assignment.properties["principalId"] == "principalId"
        assert assignment.properties["principalType"] == "ServicePrincipal"


def test_assignment_names_are_deterministic_so_redeploying_does_not_duplicate_them() -> None:
    for assignment in resources(ASSIGNMENT):
        name = assignment.body["name"]["function"]
        assert name["type"] == "guid"
        assert (
            name["parameters"]["base_string"]["operator"]["operands"]["operand_1"] == assignment.body["scope"]
        )


def test_the_function_app_waits_for_its_roles() -> None:
    assert "rbac" in parse(MAIN)["modules"]["functionApp"]["config"]["dependsOn"]


def test_the_app_identity_is_user_assigned() -> None:
    one("Microsoft.ManagedIdentity/userAssignedIdentities")


def _role(assignment: Resource) -> str:
    definition = assignment.properties["roleDefinitionId"]["function"]
    assert definition["type"] == "subscription_resource_id"
    assert definition["parameters"]["resource_type"] == "Microsoft.Authorization/roleDefinitions"
    role: str = resolve(assignment.file, definition["parameters"]["resource_name_1"])
    return role


def _scope_type(assignment: Resource) -> str:
    scope = assignment.body["scope"]
    (target,) = [
        r for r in resources(include_existing=True) if r.file == assignment.file and r.symbol == scope
    ]
    return target.type
