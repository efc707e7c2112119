"""The operator's bulk import command (tools/import_legacy.py) against Azurite: a good file is imported and
summarised, re-running it changes nothing, and any bad row imports nothing at all."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from functions.adapters.audit_store import TableAuditLog
from functions.adapters.consent_store import TableConsentStore
from functions.adapters.optout_store import TableOptOutStore
from functions.adapters.storage import StorageClients
from tests.conftest import base_env
from tools.import_legacy import main

pytestmark = pytest.mark.integration

NOW = datetime(2022, 6, 1, 9, 0, tzinfo=UTC)
HEADER = "tenantId,feature,grantedAt,expiresAt,optedOutGroupIds"
G1, G2 = str(uuid.uuid4()), str(uuid.uuid4())


@dataclass
class Run:
    code: int
    out: str
    err: str


RunImport = Callable[..., Run]  # (file name, text, *arguments, env=None) -> Run


@pytest.fixture
def run_import(tmp_path: Path, storage_connection_string: str) -> RunImport:
    def run(name: str, text: str, *args: str, env: dict[str, str] | None = None) -> Run:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        out, err = io.StringIO(), io.StringIO()
        environ = base_env(storage_connection_string) if env is None else env
        argv = [str(path), "--settings", str(tmp_path / "absent.json"), *args]
        code = main(argv, environ=environ, clock=lambda: NOW, out=out, err=err)
        return Run(code, out.getvalue(), err.getvalue())

    return run


@pytest.fixture
def other_tenant() -> str:
    return str(uuid.uuid4())


def csv_file(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def imported_anything(storage: StorageClients, *tenants: str) -> bool:
    consents, optouts, audit = TableConsentStore(storage), TableOptOutStore(storage), TableAuditLog(storage)
    return any(
        consents.load(t).consent.legacy or optouts.load_groups(t).groups.ids or audit.page(t, 5, None).entries
        for t in tenants
    )


def test_a_valid_file_is_imported_and_summarised(
    run_import: RunImport, storage_clients: StorageClients, tenant_id: str, other_tenant: str
) -> None:
    text = csv_file(
        f"{tenant_id},relationship_analytics,2021-03-01T10:00:00Z,,{G1};{G2}",
        f"{tenant_id},who_knows_whom,2021-03-01T10:00:00Z,2022-07-01T00:00:00Z,",
        f"{other_tenant},who_knows_whom,2021-05-01T10:00:00Z,,",
    )
    result = run_import("legacy.csv", text)
    legacy = TableConsentStore(storage_clients).load(tenant_id).consent.legacy
    assert result.code == 0, result.err
    assert "3 records for 2 tenants" in result.out
    assert "imported 3" in result.out
    assert legacy["relationship_analytics"].opted_out_group_ids == {G1, G2}
    assert legacy["who_knows_whom"].expires_at == datetime(2022, 7, 1, tzinfo=UTC)


def test_re_running_the_same_file_changes_nothing(
    run_import: RunImport, storage_clients: StorageClients, tenant_id: str
) -> None:
    text = csv_file(f"{tenant_id},relationship_analytics,2021-03-01T10:00:00Z,,{G1}")
    run_import("legacy.csv", text)
    consents, audit = TableConsentStore(storage_clients), TableAuditLog(storage_clients)
    before = (consents.load(tenant_id), audit.page(tenant_id, 50, None).entries)
    again = run_import("legacy.csv", text, "--json")
    assert json.loads(again.out)["alreadyImported"] == 1
    assert (consents.load(tenant_id), audit.page(tenant_id, 50, None).entries) == before


def test_a_json_file_is_imported(
    run_import: RunImport, storage_clients: StorageClients, tenant_id: str
) -> None:
    records = [{"tenantId": tenant_id, "feature": "who_knows_whom", "grantedAt": "2021-03-01T10:00:00Z"}]
    result = run_import("legacy.json", json.dumps(records, indent=2))
    assert result.code == 0, result.err
    assert set(TableConsentStore(storage_clients).load(tenant_id).consent.legacy) == {"who_knows_whom"}


def test_a_json_lines_file_is_imported(
    run_import: RunImport, storage_clients: StorageClients, tenant_id: str
) -> None:
    record = {"tenantId": tenant_id, "feature": "relationship_analytics", "grantedAt": "2021-03-01T10:00:00Z"}
    result = run_import("legacy.jsonl", json.dumps(record) + "\n")
    assert result.code == 0, result.err
    assert set(TableConsentStore(storage_clients).load(tenant_id).consent.legacy) == {
        "relationship_analytics"
    }


def test_rows_without_an_expiry_take_the_configured_default(
    run_import: RunImport, storage_connection_string: str, storage_clients: StorageClients, tenant_id: str
) -> None:
    env = base_env(storage_connection_string, LEGACY_WHO_KNOWS_WHOM_EXPIRES_AT="2022-08-15T00:00:00Z")
    run_import("legacy.csv", csv_file(f"{tenant_id},who_knows_whom,2021-03-01T10:00:00Z,,"), env=env)
    record = TableConsentStore(storage_clients).load(tenant_id).consent.legacy["who_knows_whom"]
    assert record.expires_at == datetime(2022, 8, 15, tzinfo=UTC)


def test_storage_settings_come_from_local_settings_json_when_the_environment_has_none(
    tmp_path: Path, storage_connection_string: str, storage_clients: StorageClients, tenant_id: str
) -> None:
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps({"IsEncrypted": False, "Values": base_env(storage_connection_string)}))
    records = tmp_path / "legacy.csv"
    records.write_text(csv_file(f"{tenant_id},who_knows_whom,2021-03-01T10:00:00Z,,"), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    code = main([str(records), "--settings", str(settings)], environ={}, clock=lambda: NOW, out=out, err=err)
    assert code == 0, err.getvalue()
    assert TableConsentStore(storage_clients).load(tenant_id).consent.legacy


def test_the_environment_wins_over_local_settings_json(
    tmp_path: Path, storage_connection_string: str, storage_clients: StorageClients, tenant_id: str
) -> None:
    settings = tmp_path / "local.settings.json"
    wrong = "DefaultEndpointsProtocol=http;AccountName=nobody;AccountKey=bm9ib2R5;TableEndpoint=http://127.0.0.1:9/nobody;"
    settings.write_text(json.dumps({"Values": {"AzureWebJobsStorage": wrong}}))
    records = tmp_path / "legacy.csv"
    records.write_text(csv_file(f"{tenant_id},who_knows_whom,2021-03-01T10:00:00Z,,"), encoding="utf-8")
    environ = base_env(storage_connection_string)
    code = main(
        [str(records), "--settings", str(settings)], environ=environ, clock=lambda: NOW, out=io.StringIO()
    )
    assert code == 0
    assert TableConsentStore(storage_clients).load(tenant_id).consent.legacy


def test_a_dry_run_validates_and_imports_nothing(
    run_import: RunImport, storage_clients: StorageClients, tenant_id: str
) -> None:
    result = run_import(
        "legacy.csv", csv_file(f"{tenant_id},who_knows_whom,2021-03-01T10:00:00Z,,"), "--dry-run"
    )
    assert (result.code, "1 valid record for 1 tenant;" in result.out) == (0, True)
    assert not imported_anything(storage_clients, tenant_id)


def test_a_file_of_unknown_format_is_refused(run_import: RunImport) -> None:
    result = run_import("legacy.txt", "anything")
    assert (result.code, "unknown format" in result.err) == (2, True)


# --- bad input: the whole file is refused, every problem listed, nothing imported ---------------------------


def refused(result: Run, line: int, storage: StorageClients, *tenants: str) -> None:
    assert result.code == 1, result.out
    assert "nothing was imported" in result.err
    assert f"line {line}:" in result.err, result.err
    assert not imported_anything(storage, *tenants)


def test_an_unknown_feature_name_imports_nothing(
    run_import: RunImport, storage_clients: StorageClients, tenant_id: str, other_tenant: str
) -> None:
    text = csv_file(
        f"{tenant_id},relationship_analytics,2021-03-01T10:00:00Z,,{G1}",
        f"{other_tenant},connection_graph,2021-03-01T10:00:00Z,,",
    )
    refused(run_import("legacy.csv", text), 3, storage_clients, tenant_id, other_tenant)


def test_an_expiry_before_the_grant_imports_nothing(
    run_import: RunImport, storage_clients: StorageClients, tenant_id: str, other_tenant: str
) -> None:
    text = csv_file(
        f"{tenant_id},relationship_analytics,2021-03-01T10:00:00Z,,",
        f"{other_tenant},who_knows_whom,2021-03-01T10:00:00Z,2021-02-01T10:00:00Z,",
    )
    refused(run_import("legacy.csv", text), 3, storage_clients, tenant_id, other_tenant)


def test_a_malformed_date_imports_nothing(
    run_import: RunImport, storage_clients: StorageClients, tenant_id: str, other_tenant: str
) -> None:
    text = csv_file(
        f"{tenant_id},relationship_analytics,2021-03-01T10:00:00Z,,",
        f"{other_tenant},who_knows_whom,01/03/2021,,",
    )
    refused(run_import("legacy.csv", text), 3, storage_clients, tenant_id, other_tenant)


def test_duplicate_rows_import_nothing(
    run_import: RunImport, storage_clients: StorageClients, tenant_id: str
) -> None:
    row = f"{tenant_id},relationship_analytics,2021-03-01T10:00:00Z,,"
    refused(run_import("legacy.csv", csv_file(row, row)), 3, storage_clients, tenant_id)


def test_a_non_guid_group_imports_nothing(
    run_import: RunImport, storage_clients: StorageClients, tenant_id: str, other_tenant: str
) -> None:
    text = csv_file(
        f"{tenant_id},relationship_analytics,2021-03-01T10:00:00Z,,{G1}",
        f"{other_tenant},who_knows_whom,2021-03-01T10:00:00Z,,{G2};Sales EU",
    )
    refused(run_import("legacy.csv", text), 3, storage_clients, tenant_id, other_tenant)


def test_a_non_guid_tenant_imports_nothing(
    run_import: RunImport, storage_clients: StorageClients, tenant_id: str
) -> None:
    text = csv_file(
        f"{tenant_id},relationship_analytics,2021-03-01T10:00:00Z,,",
        "contoso.onmicrosoft.com,who_knows_whom,2021-03-01T10:00:00Z,,",
    )
    refused(run_import("legacy.csv", text), 3, storage_clients, tenant_id)


def test_malformed_json_imports_nothing(
    run_import: RunImport, storage_clients: StorageClients, tenant_id: str
) -> None:
    good = {"tenantId": tenant_id, "feature": "who_knows_whom", "grantedAt": "2021-03-01T10:00:00Z"}
    text = "[\n" + json.dumps(good) + ",\n" + '{"tenantId": }\n]'
    refused(run_import("legacy.json", text), 3, storage_clients, tenant_id)
