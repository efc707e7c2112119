"""The storage account: Entra-only access, the names the app uses, and the 30-day backup deadline."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

import pytest

import functions.adapters
from functions.app import create_app
from tests.infra import bicep
from tests.infra.bicep import INFRA, MAIN, decorator, parse, resolve, resources, variable

pytestmark = pytest.mark.infra

ACCOUNT = "Microsoft.Storage/storageAccounts"
# The app's own account; the data shards (modules/datashard.bicep) are checked in test_data_shards.py.
STORAGE = INFRA / "modules" / "storage.bicep"
# SPEC, Backups: a backup is gone for good (soft delete included) within 30 days of being written.
BACKUP_DEADLINE_DAYS = 30
# Lifecycle runs start up to a day after a policy change and take what they miss "in subsequent runs".
LIFECYCLE_LAG_DAYS = 2
# "More than N days" counts whole days, so a blob is due N + 1 days after it was written at the latest.
WHOLE_DAY = 1


def one(type_: str) -> bicep.Resource:
    return bicep.one(type_, STORAGE)


def test_the_app_has_one_storage_account_of_its_own() -> None:
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


def test_lifecycle_deletes_blobs_versions_and_snapshots_at_the_one_computed_age() -> None:
    (rule,) = _lifecycle_rules()
    assert rule["definition"]["actions"] == {
        "baseBlob": {"delete": {"daysAfterModificationGreaterThan": "backupDeleteAfterDays"}},
        "version": {"delete": {"daysAfterCreationGreaterThan": "backupDeleteAfterDays"}},
        "snapshot": {"delete": {"daysAfterCreationGreaterThan": "backupDeleteAfterDays"}},
    }


def test_the_soft_delete_in_the_deadline_is_the_one_the_blob_service_applies() -> None:
    service = one(f"{ACCOUNT}/blobServices").properties
    assert service["deleteRetentionPolicy"]["days"] == "softDeleteRetentionDays"
    assert service["containerDeleteRetentionPolicy"]["days"] == "softDeleteRetentionDays"


def test_a_backup_is_gone_for_good_within_30_days_for_every_allowed_soft_delete_retention() -> None:
    # Worst case: due a whole day after the rule's age, deleted by a late run, then kept in soft delete.
    storage = one(ACCOUNT).file
    lowest = decorator(storage, "softDeleteRetentionDays", "min_value")
    highest = decorator(storage, "softDeleteRetentionDays", "max_value")
    for soft_delete in range(lowest, highest + 1):
        delete_after = _evaluate(storage, "backupDeleteAfterDays", softDeleteRetentionDays=soft_delete)
        assert delete_after >= 1, soft_delete
        assert delete_after + WHOLE_DAY + LIFECYCLE_LAG_DAYS + soft_delete <= BACKUP_DEADLINE_DAYS, (
            soft_delete
        )


def test_with_the_default_soft_delete_backups_are_kept_20_days() -> None:
    assert _evaluate(one(ACCOUNT).file, "backupDeleteAfterDays") == 20


def test_the_template_budgets_at_least_the_lifecycle_lag_this_test_assumes() -> None:
    assert resolve(one(ACCOUNT).file, "lifecycleLagDays") >= LIFECYCLE_LAG_DAYS


def test_tables_of_the_storage_layout_are_declared() -> None:
    tables = one(f"{ACCOUNT}/tableServices/tables")
    assert tables.loop["detail"]["array_name"] == "tableNames"
    assert set(variable(tables.file, "tableNames")) == tables_the_code_uses()


def test_queues_and_their_poison_queues_are_declared() -> None:
    queues = one(f"{ACCOUNT}/queueServices/queues")
    assert queues.loop["detail"]["array_name"] == "queueNames"
    triggered = {
        str(function.get_trigger().queue_name)
        for function in create_app(check_settings=False).get_functions()
        if getattr(function.get_trigger(), "queue_name", None)
    }
    assert triggered == {"ingest", "membership", "purges", "refresh"}
    assert set(variable(queues.file, "queueNames")) == triggered | {f"{q}-poison" for q in triggered}


def test_the_refresh_queue_of_graph_change_notifications_and_its_poison_queue_are_declared() -> None:
    # A notification puts a coalesced "refresh this user" message on `refresh`; whether or not notifications
    # are on, the queue exists so that turning them on needs no provisioning.
    queues = one(f"{ACCOUNT}/queueServices/queues")
    assert {"refresh", "refresh-poison"} <= set(variable(queues.file, "queueNames"))


def test_the_subscriptions_table_of_graph_change_notifications_is_declared() -> None:
    tables = one(f"{ACCOUNT}/tableServices/tables")
    assert "subscriptions" in variable(tables.file, "tableNames")


def tables_the_code_uses() -> set[str]:
    """Every table name an adapter declares (`TABLE`, `*_TABLE`, or a table store's `name`)."""
    names: set[str] = set()
    for module_info in pkgutil.iter_modules(functions.adapters.__path__):
        module = importlib.import_module(f"functions.adapters.{module_info.name}")
        for attribute, value in vars(module).items():
            if (attribute == "TABLE" or attribute.endswith("_TABLE")) and isinstance(value, str):
                names.add(value)
    return names


def test_backups_and_deployment_containers_are_declared() -> None:
    containers = {c.symbol: c for c in resources(f"{ACCOUNT}/blobServices/containers")}
    assert set(containers) == {"backupsContainer", "deploymentContainer"}
    backups = containers["backupsContainer"]
    assert resolve(backups.file, backups.body["name"]) == "backups"
    assert containers["deploymentContainer"].body["name"] == "deploymentContainerName"


def test_flex_deployment_package_goes_to_the_declared_container_with_the_app_identity() -> None:
    deployment = bicep.one("Microsoft.Web/sites").properties["functionAppConfig"]["deployment"]["storage"]
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


def _evaluate(path: Path, expression: Any, **parameters: int) -> int:
    """The integer value of a Bicep expression of sums and differences, given some parameters' values."""
    if isinstance(expression, int):
        return expression
    if isinstance(expression, str):
        if expression in parameters:
            return parameters[expression]
        template = parse(path)
        if expression in template["variables"]:
            return _evaluate(path, template["variables"][expression]["value"], **parameters)
        default: int = template["parameters"][expression]["default"]
        return default
    operator = expression["operator"]
    left, right = (_evaluate(path, operator["operands"][k], **parameters) for k in ("operand_1", "operand_2"))
    assert operator["type"] in ("add", "substract"), f"cannot evaluate {operator['type']}"
    return left + right if operator["type"] == "add" else left - right


def _lifecycle_rules() -> list[dict[str, Any]]:
    policy = one(f"{ACCOUNT}/managementPolicies")
    assert policy.body["name"] == "default"
    rules: list[dict[str, Any]] = policy.properties["policy"]["rules"]
    return rules


def _resolve_prefix(prefix: str) -> str:
    storage = one(ACCOUNT).file
    return prefix.replace("${backupsContainerName}", variable(storage, "backupsContainerName"))
