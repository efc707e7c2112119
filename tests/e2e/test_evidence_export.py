"""The evidence export over HTTP, as an auditor's administrator downloads it: JSON or a ZIP of JSON and CSV,
holding the consent history, the opt-outs and every purge with its deadlines; recorded in the audit log;
for administrators only; an unknown format refused."""

from __future__ import annotations

import csv
import io
import json
import uuid
import zipfile

import pytest

from tests.support.consent_client import ConsentClient
from tests.support.schemas import conforms

pytestmark = pytest.mark.e2e


def evidence(tenant_id: str) -> str:
    return f"/api/tenants/{tenant_id}/evidence"


def a_tenant_with_history(client: ConsentClient, tenant_id: str) -> tuple[str, str]:
    """Granted with one group out, then one user opted out (a purge, its deadlines not due yet)."""
    group, user = str(uuid.uuid4()), str(uuid.uuid4())
    assert client.put(
        f"/api/tenants/{tenant_id}/consent", tenant_id, json={"optedOutGroupIds": [group]}
    ).is_success
    assert client.put(f"/api/tenants/{tenant_id}/opt-outs/users/{user}", tenant_id).status_code == 202
    return group, user


def test_the_json_evidence_holds_the_consent_history_the_opt_outs_and_each_purge_with_its_deadlines(
    client: ConsentClient, tenant_id: str
) -> None:
    group, user = a_tenant_with_history(client, tenant_id)
    answer = client.get(evidence(tenant_id), tenant_id)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.headers["content-disposition"].startswith(f'attachment; filename="evidence-{tenant_id}-')
    body = answer.json()
    conforms(body, "Evidence")
    assert [c["kind"] for c in body["consentHistory"]] == ["granted"]
    assert [g["groupId"] for g in body["optOuts"]["groups"]] == [group]
    assert [u["userId"] for u in body["optOuts"]["users"]] == [user]
    (purge,) = body["purges"]
    assert purge["purge"]["scope"] == {"kind": "user", "tenantId": tenant_id, "userId": user}
    assert (purge["liveDeadline"], purge["backupDeadline"]) == ("pending", "pending")
    assert body["summary"] == {"consentChanges": 1, "purges": 1, "deadlinesMissed": 0, "deadlinesPending": 2}


def test_the_zip_holds_the_same_document_and_a_csv_per_table(client: ConsentClient, tenant_id: str) -> None:
    _, user = a_tenant_with_history(client, tenant_id)
    answer = client.get(evidence(tenant_id), tenant_id, params={"format": "zip"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/zip")
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    assert sorted(archive.namelist()) == [
        "consent-history.csv",
        "evidence.json",
        "opt-outs.csv",
        "purges.csv",
    ]
    document_in_zip = json.loads(archive.read("evidence.json"))
    assert [p["purge"]["id"] for p in document_in_zip["purges"]] == [
        row["id"] for row in csv.DictReader(io.StringIO(archive.read("purges.csv").decode()))
    ]
    optouts = list(csv.DictReader(io.StringIO(archive.read("opt-outs.csv").decode())))
    assert {(row["kind"], row["id"]) for row in optouts} >= {("user", user)}
    (purge_row,) = csv.DictReader(io.StringIO(archive.read("purges.csv").decode()))
    assert (purge_row["scope"], purge_row["subject"], purge_row["liveDeadlineOutcome"]) == (
        "user",
        user,
        "pending",
    )


def test_each_export_is_recorded_in_the_audit_log_with_who_and_what(
    client: ConsentClient, tenant_id: str
) -> None:
    a_tenant_with_history(client, tenant_id)
    auditor = str(uuid.uuid4())
    assert (
        client.get(evidence(tenant_id), tenant_id, oid=auditor, params={"format": "zip"}).status_code == 200
    )
    entries = client.get(f"/api/tenants/{tenant_id}/audit", tenant_id).json()["entries"]
    exported = [e for e in entries if e["kind"] == "evidence.exported"]
    assert len(exported) == 1
    assert (exported[0]["actorId"], exported[0]["detail"]) == (auditor, "evidence export (zip)")
    assert exported[0]["counts"] == {
        "consentChanges": 1,
        "purges": 1,
        "deadlinesMissed": 0,
        "deadlinesPending": 2,
    }


def test_the_evidence_is_for_administrators_only(client: ConsentClient, tenant_id: str) -> None:
    assert client.get(evidence(tenant_id), tenant_id, roles=("Insights.Read",)).status_code == 403
    assert client.host.request("GET", evidence(tenant_id)).status_code == 401
    entries = client.get(f"/api/tenants/{tenant_id}/audit", tenant_id).json()["entries"]
    assert not [e for e in entries if e["kind"] == "evidence.exported"], "a refused export is not recorded"


def test_an_unknown_format_is_refused_naming_it_and_nothing_is_recorded(
    client: ConsentClient, tenant_id: str
) -> None:
    answer = client.get(evidence(tenant_id), tenant_id, params={"format": "xml"})
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "format" in answer.text
    entries = client.get(f"/api/tenants/{tenant_id}/audit", tenant_id).json()["entries"]
    assert not [e for e in entries if e["kind"] == "evidence.exported"]
