"""The admin-center webhook over HTTP through the local host: signed deliveries, idempotency, and every bad
input refused with the right status and a problem document, changing nothing."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import WEBHOOK_SECRET
from tests.support import admin_center as ac
from tests.support.consent_client import ConsentClient
from tests.support.identity import signed_webhook_headers

pytestmark = pytest.mark.e2e

OTHER_SECRET = "whsec_" + "b3RoZXItc2VjcmV0LW5vdC1vdXJzLTAxMjM0NTY3ODk="


def now() -> datetime:
    return datetime.now(UTC)


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    return problem


# --- what is accepted --------------------------------------------------------------------------------------


def test_a_signed_grant_is_accepted_with_202_and_enables_the_tenant(
    client: ConsentClient, tenant_id: str
) -> None:
    response = client.deliver(ac.granted(tenant_id, now()))
    assert response.status_code == 202
    assert response.json()["outcome"] == "applied"
    consent = client.get(f"/api/tenants/{tenant_id}/consent", tenant_id).json()
    assert consent["state"] == "granted"
    assert consent["features"]["who_knows_whom"] == {"enabled": True, "basis": "consent", "legacy": None}


def test_plain_application_json_is_accepted_too(client: ConsentClient, tenant_id: str) -> None:
    assert client.deliver(ac.granted(tenant_id, now()), content_type="application/json").status_code == 202


def test_a_repeated_webhook_id_gets_200_with_the_same_body_and_no_second_purge(
    client: ConsentClient, tenant_id: str
) -> None:
    event, msg_id = ac.user_changed(tenant_id, str(uuid.uuid4()), now()), f"msg_{uuid.uuid4().hex}"
    first = client.deliver(event, msg_id=msg_id)
    again = client.deliver(event, msg_id=msg_id)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == first.json()
    assert len(client.state(tenant_id)["purges"]["purges"]) == 1


def test_concurrent_deliveries_of_one_webhook_id_have_one_effect(
    client: ConsentClient, tenant_id: str
) -> None:
    body = json.dumps(ac.user_changed(tenant_id, str(uuid.uuid4()), now())).encode()
    headers = signed_webhook_headers(client.secret, body)
    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(lambda _: client.deliver(body=body, headers=headers).status_code, range(6)))
    assert statuses.count(202) == 1
    assert set(statuses) <= {200, 202, 409}
    assert len(client.state(tenant_id)["purges"]["purges"]) == 1


def test_a_webhook_id_reused_for_another_body_is_409(client: ConsentClient, tenant_id: str) -> None:
    msg_id = f"msg_{uuid.uuid4().hex}"
    client.deliver(ac.granted(tenant_id, now()), msg_id=msg_id)
    before = client.state(tenant_id)
    assert_problem(client.deliver(ac.revoked(tenant_id, now()), msg_id=msg_id), 409)
    assert client.state(tenant_id) == before


def test_a_stale_event_is_audited_and_has_no_effect(client: ConsentClient, tenant_id: str) -> None:
    client.deliver(ac.revoked(tenant_id, now()))
    before = client.state(tenant_id)
    response = client.deliver(ac.granted(tenant_id, now() - timedelta(minutes=2)))
    assert (response.status_code, response.json()["outcome"]) == (202, "stale")
    assert client.state(tenant_id) == before
    assert any(e["kind"] == "consent.granted" and e["outcome"] == "stale" for e in client.audit(tenant_id))


def test_a_revocation_starts_a_tenant_purge_with_deadlines(client: ConsentClient, tenant_id: str) -> None:
    client.deliver(ac.granted(tenant_id, now()))
    purge_id = client.deliver(ac.revoked(tenant_id, now())).json()["purgeId"]
    purge = client.get(f"/api/tenants/{tenant_id}/purges/{purge_id}", tenant_id).json()
    assert purge["scope"] == {"kind": "tenant", "tenantId": tenant_id}
    assert purge["reason"] == "consent-revoked"
    requested = datetime.fromisoformat(purge["requestedAt"])
    assert datetime.fromisoformat(purge["liveDeadline"]) - requested == timedelta(hours=24)
    assert datetime.fromisoformat(purge["backupDeadline"]) - requested == timedelta(days=30)


def test_a_legacy_import_enables_its_feature_until_it_expires(client: ConsentClient, tenant_id: str) -> None:
    event = ac.legacy_imported(
        tenant_id, "relationship_analytics", now(), granted_at=now() - timedelta(days=10),
        expires_at=now() + timedelta(days=10),
    )  # fmt: skip
    assert client.deliver(event).status_code == 202
    features = client.get(f"/api/tenants/{tenant_id}/consent", tenant_id).json()["features"]
    assert (features["relationship_analytics"]["basis"], features["who_knows_whom"]["basis"]) == (
        "legacy",
        "none",
    )


# --- the bad-input matrix: each refused, a problem document, nothing changed -------------------------------


def bad_signature_headers(body: bytes, case: str) -> dict[str, str]:
    if case == "missing":
        return {}
    if case == "malformed":
        return signed_webhook_headers(WEBHOOK_SECRET, body) | {"webhook-signature": "v1,not base64!"}
    if case == "wrong-secret":
        return signed_webhook_headers(OTHER_SECRET, body)
    if case == "stale":
        return signed_webhook_headers(WEBHOOK_SECRET, body, timestamp=now() - timedelta(minutes=10))
    if case == "future":
        return signed_webhook_headers(WEBHOOK_SECRET, body, timestamp=now() + timedelta(minutes=10))
    return signed_webhook_headers(WEBHOOK_SECRET, body + b" ")  # signed one body, sends another


@pytest.mark.parametrize("case", ["missing", "malformed", "wrong-secret", "stale", "future", "altered-body"])
def test_a_bad_signature_is_401_without_detail_and_changes_nothing(
    client: ConsentClient, tenant_id: str, case: str
) -> None:
    before = client.state(tenant_id)
    body = json.dumps(ac.granted(tenant_id, now())).encode()
    problem = assert_problem(client.deliver(body=body, headers=bad_signature_headers(body, case)), 401)
    assert "detail" not in problem
    assert "errors" not in problem
    assert client.state(tenant_id) == before
    assert client.audit(tenant_id) == []  # an unsigned body is never even read


def invalid_bodies(tenant_id: str) -> dict[str, tuple[bytes, str | None]]:
    """Signed bodies that must be refused with 400, and the field each must name (None: no field)."""
    at = now()

    def with_data(event: dict[str, Any], **data: Any) -> bytes:
        event["data"] |= data
        return json.dumps(event).encode()

    no_data = ac.revoked(tenant_id, at)
    del no_data["data"]
    return {
        "malformed-json": (b'{"specversion": "1.0", ', None),
        "json-not-an-object": (json.dumps([ac.revoked(tenant_id, at)]).encode(), None),
        "unknown-event-type": (
            json.dumps(ac.revoked(tenant_id, at) | {"type": "consent.paused"}).encode(), "type"
        ),
        "missing-data": (json.dumps(no_data).encode(), "data"),
        "non-guid-tenant": (with_data(ac.revoked(tenant_id, at), tenantId="contoso"), "data.tenantId"),
        "non-guid-group": (
            with_data(ac.groups_replaced(tenant_id, [], at), groupIds=["sales"]), "data.groupIds[0]"
        ),
        "non-guid-user": (
            with_data(ac.user_changed(tenant_id, str(uuid.uuid4()), at), userId="bob"), "data.userId"
        ),
        "group-ids-not-a-list": (
            with_data(ac.groups_replaced(tenant_id, [], at), groupIds=str(uuid.uuid4())), "data.groupIds"
        ),
        "opted-out-not-a-bool": (
            with_data(ac.user_changed(tenant_id, str(uuid.uuid4()), at), optedOut="yes"), "data.optedOut"
        ),
        "unknown-data-field": (with_data(ac.revoked(tenant_id, at), reason="x"), "data.reason"),
    }  # fmt: skip


@pytest.mark.parametrize(
    "case",
    [
        "malformed-json", "json-not-an-object", "unknown-event-type", "missing-data", "non-guid-tenant",
        "non-guid-group", "non-guid-user", "group-ids-not-a-list", "opted-out-not-a-bool",
        "unknown-data-field",
    ],
)  # fmt: skip
def test_an_invalid_signed_body_is_400_naming_the_field_and_changes_nothing(
    client: ConsentClient, tenant_id: str, case: str
) -> None:
    body, field = invalid_bodies(tenant_id)[case]
    before = client.state(tenant_id)
    problem = assert_problem(client.deliver(body=body), 400)
    if field is not None:
        assert field in {e["field"] for e in problem["errors"]}
    assert client.state(tenant_id) == before
    assert {e["outcome"] for e in client.audit(tenant_id)} <= {"rejected"}


def test_an_oversized_body_is_413_and_changes_nothing(client: ConsentClient, tenant_id: str) -> None:
    event = ac.granted(tenant_id, now())
    event["data"]["padding"] = "x" * (64 * 1024)
    before = client.state(tenant_id)
    assert_problem(client.deliver(event), 413)
    assert client.state(tenant_id) == before


def test_a_non_json_content_type_is_415_and_changes_nothing(client: ConsentClient, tenant_id: str) -> None:
    before = client.state(tenant_id)
    assert_problem(client.deliver(ac.granted(tenant_id, now()), content_type="text/plain"), 415)
    assert client.state(tenant_id) == before


def hostile(tenant_id: str) -> dict[str, bytes]:
    """Signed bodies that must still be refused as malformed: the signature proves who sent them, not that
    they are safe to parse."""
    event = json.dumps(ac.granted(tenant_id, now())).encode()
    return {
        "nested-20000-deep": event[:-1] + b', "x": ' + b"[" * 20_000 + b"]" * 20_000 + b"}",
        "integer-of-5000-digits": event[:-1] + b', "x": ' + b"9" * 5000 + b"}",
        "nan": event[:-1] + b', "x": NaN}',
        "byte-order-mark": b"\xef\xbb\xbf" + event,
        "invalid-utf8": event[:-1] + b', "x": "\xc3\x28"}',
    }


@pytest.mark.parametrize(
    "case", ["nested-20000-deep", "integer-of-5000-digits", "nan", "byte-order-mark", "invalid-utf8"]
)
def test_a_signed_but_hostile_body_is_400_and_changes_nothing(
    client: ConsentClient, tenant_id: str, case: str
) -> None:
    before = client.state(tenant_id)
    problem = assert_problem(client.deliver(body=hostile(tenant_id)[case]), 400)
    assert problem["type"].endswith("/malformed-body")
    assert client.state(tenant_id) == before
