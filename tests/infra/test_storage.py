"""The storage account: Entra-only access, the names the app uses, and the 30-day backup deadline."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.bicep import MAIN, decorator, one, parse, resolve, resources, variable

pytestmark = pytest.mark.infra

ACCOUNT = "Microsoft.Storage/storageAccounts"
BACKUP_DEADLINE_DAYS = 30
# Lifecycle management runs about once a day, so a blob can outlive its rule by up to a day.
LIFECYCLE_LAG_DAYS = 1


def test_there_is_one_storage_account() -> None:
    one(ACCOUNT)


def test_shared_key_access_is_off_so_only_entra_identities_get_in() -> None:
    assert one(ACCOUNT).properties["allowSharedKeyAccess"] is False
    assert one(ACCOUNT).properties["defaultToOAuthAuthentication"] is True


def test_only_https_with_tls_1_2() -> None:
    assert one(ACCOUNT).properties["supportsHttpsTrafficOnly"] is True
    assert one(ACCOUNT).properties["minimumTlsVersion"] == "TLS1_2"


def test_no_blob_is_publicly_readable() -> None:
    assert one(ACCOUNT).properties["allowBlobPublicAccess"] is False
    for container in resources(f"{ACCOUNT}/blobServices/containers"):
        assert container.properties["publicAccess"] == "None", container.symbol


def test_blob_and_container_soft_delete_are_on() -> None:
    service = one(f"{ACCOUNT}/blobServices")
    assert service.properties["deleteRetentionPolicy"]["enabled"] is True
    assert service.properties["containerDeleteRetentionPolicy"]["enabled"] is True


def test_no_blob_versions_or_change_feed_keep_copies_of_deleted_backups() -> None:
    service = one(f"{ACCOUNT}/blobServices")
    assert service.properties["isVersioningEnabled"] is False
    assert service.properties["changeFeed"]["enabled"] is False


def test_lifecycle_rule_targets_the_backups_container() -> None:
    (rule,) = _lifecycle_rules()
    assert rule["enabled"] is True
    prefixes = [_resolve_prefix(prefix) for prefix in rule["definition"]["filters"]["prefixMatch"]]
    assert prefixes == ["backups/"]


def test_backup_age_plus_soft_delete_stays_under_30_days_for_every_allowed_parameter_value() -> None:
    # Worst case over what the parameters allow, so no deployment can break the deadline.
    (rule,) = _lifecycle_rules()
    storage = one(ACCOUNT).file
    delete_after = rule["definition"]["actions"]["baseBlob"]["delete"]["daysAfterModificationGreaterThan"]
    soft_delete = one(f"{ACCOUNT}/blobServices").properties["deleteRetentionPolicy"]["days"]
    assert (delete_after, soft_delete) == ("backupRetentionDays", "softDeleteRetentionDays")
    worst = decorator(storage, delete_after, "max_value") + decorator(storage, soft_delete, "max_value")
    assert worst + LIFECYCLE_LAG_DAYS < BACKUP_DEADLINE_DAYS
    assert resolve(storage, delete_after) + resolve(storage, soft_delete) == 21 + 7


def test_tables_of_the_storage_layout_are_declared() -> None:
    tables = one(f"{ACCOUNT}/tableServices/tables")
    assert tables.loop["detail"]["array_name"] == "tableNames"
    assert set(variable(tables.file, "tableNames")) == {
        "consents",
        "optouts",
        "webhookreceipts",
        "purges",
        "audit",
        "slices",
        "contacts",
        "cursors",
        "introductions",
    }


def test_queues_and_their_poison_queues_are_declared() -> None:
    queues = one(f"{ACCOUNT}/queueServices/queues")
    assert queues.loop["detail"]["array_name"] == "queueNames"
    assert set(variable(queues.file, "queueNames")) == {"ingest", "ingest-poison", "purges", "purges-poison"}


def test_backups_and_deployment_containers_are_declared() -> None:
    containers = {c.symbol: c for c in resources(f"{ACCOUNT}/blobServices/containers")}
    assert set(containers) == {"backupsContainer", "deploymentContainer"}
    backups = containers["backupsContainer"]
    assert resolve(backups.file, backups.body["name"]) == "backups"
    assert containers["deploymentContainer"].body["name"] == "deploymentContainerName"


def test_flex_deployment_package_goes_to_the_declared_container_with_the_app_identity() -> None:
    deployment = one("Microsoft.Web/sites").properties["functionAppConfig"]["deployment"]["storage"]
    assert deployment["type"] == "blobContainer"
    assert deployment["value"] == "${storageBlobEndpoint}${deploymentContainerName}"
    assert deployment["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": "identityId",
    }
    passed = parse(MAIN)["modules"]["functionApp"]["config"]["params"]["deploymentContainerName"]
    assert passed == {
        "operator": {
            "type": "property_accessor",
            "operands": {
                "operand_1": "storage",
                "operand_2": {
                    "operator": {
                        "type": "property_accessor",
                        "operands": {"operand_1": "outputs", "operand_2": "deploymentContainerName"},
                    }
                },
            },
        }
    }


def _lifecycle_rules() -> list[dict[str, Any]]:
    policy = one(f"{ACCOUNT}/managementPolicies")
    assert policy.body["name"] == "default"
    rules: list[dict[str, Any]] = policy.properties["policy"]["rules"]
    return rules


def _resolve_prefix(prefix: str) -> str:
    storage = one(ACCOUNT).file
    return prefix.replace("${backupsContainerName}", variable(storage, "backupsContainerName"))
