"""The consent REST API over HTTP through the local host, with tokens minted against a JWKS on 127.0.0.1:
the consent life cycle, who may do what, and every bad token or body refused without changing anything."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.consent_client import MANAGE, ConsentClient
from tests.support.identity import generate_rsa_key

pytestmark = pytest.mark.e2e


def consent(tenant_id: str) -> str:
    return f"/api/tenants/{tenant_id}/consent"


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    return problem


# --- the life cycle ----------------------------------------------------------------------------------------


def test_a_new_tenant_has_no_consent(client: ConsentClient, tenant_id: str) -> None:
    body = client.get(consent(tenant_id), tenant_id).json()
    assert (body["state"], body["version"], body["optedOutGroups"]) == ("none", 0, [])


def test_a_grant_through_the_api_records_who_granted(client: ConsentClient, tenant_id: str) -> None:
    admin = str(uuid.uuid4())
    group = str(uuid.uuid4())
    response = client.put(consent(tenant_id), tenant_id, oid=admin, json={"optedOutGroupIds": [group]})
    assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["granted"]["actorId"], body["granted"]["source"]) == ("granted", admin, "api")
    assert body["optedOutGroups"][0]["groupId"] == group


def test_a_grant_with_an_empty_body_is_accepted(client: ConsentClient, tenant_id: str) -> None:
    assert client.put(consent(tenant_id), tenant_id).status_code == 200


def test_revoking_answers_202_with_the_purge(client: ConsentClient, tenant_id: str) -> None:
    client.put(consent(tenant_id), tenant_id)
    response = client.delete(consent(tenant_id), tenant_id)
    assert response.status_code == 202
    purge_id = response.json()["purgeId"]
    purges = client.get(f"/api/tenants/{tenant_id}/purges", tenant_id).json()["purges"]
    assert [(p["id"], p["status"], p["scope"]["kind"]) for p in purges] == [(purge_id, "queued", "tenant")]


def test_replacing_groups_with_new_ones_queues_a_group_purge(client: ConsentClient, tenant_id: str) -> None:
    groups = [str(uuid.uuid4()), str(uuid.uuid4())]
    response = client.put(f"/api/tenants/{tenant_id}/opt-outs/groups", tenant_id, json={"groupIds": groups})
    assert response.status_code == 202
    purge = client.get(f"/api/tenants/{tenant_id}/purges/{response.json()['purgeId']}", tenant_id).json()
    assert purge["scope"] == {"kind": "groups", "tenantId": tenant_id, "groupIds": sorted(groups)}
    same = client.put(f"/api/tenants/{tenant_id}/opt-outs/groups", tenant_id, json={"groupIds": groups})
    assert (same.status_code, same.json()["purgeId"]) == (200, None)


def test_a_user_opts_out_and_back_in_themselves_without_a_role(client: ConsentClient, tenant_id: str) -> None:
    user = str(uuid.uuid4())
    path = f"/api/tenants/{tenant_id}/opt-outs/users/{user}"
    out = client.put(path, tenant_id, roles=(), oid=user)
    assert out.status_code == 202
    assert out.json()["purgeId"]
    listed = client.get(f"/api/tenants/{tenant_id}/opt-outs", tenant_id).json()["users"]
    assert [u["userId"] for u in listed] == [user]
    back_in = client.delete(path, tenant_id, roles=(), oid=user)
    assert (back_in.status_code, back_in.json()["optedOut"]) == (200, False)
    assert client.get(f"/api/tenants/{tenant_id}/opt-outs", tenant_id).json()["users"] == []


def test_an_unknown_purge_is_404(client: ConsentClient, tenant_id: str) -> None:
    assert_problem(client.get(f"/api/tenants/{tenant_id}/purges/{uuid.uuid4()}", tenant_id), 404)


def test_the_audit_log_pages_newest_first_with_a_continuation(client: ConsentClient, tenant_id: str) -> None:
    for _ in range(3):
        client.put(f"/api/tenants/{tenant_id}/opt-outs/users/{uuid.uuid4()}", tenant_id)
    first = client.get(f"/api/tenants/{tenant_id}/audit", tenant_id, params={"limit": 4}).json()
    rest = client.get(
        f"/api/tenants/{tenant_id}/audit",
        tenant_id,
        params={"limit": 4, "continuation": first["continuation"]},
    ).json()
    entries = first["entries"] + rest["entries"]
    assert len(entries) == 6  # three opt-outs, three purge requests
    assert [e["at"] for e in entries] == sorted((e["at"] for e in entries), reverse=True)
    assert rest["continuation"] is None


# --- tokens: 401 for anything not a genuine token, 403 for the wrong tenant or role ------------------------

TokenCase = Callable[[ConsentClient, str], str]
TOKEN_CASES: dict[str, TokenCase] = {
    "missing": lambda _c, _t: "",
    "not-bearer": lambda _c, _t: "Basic dXNlcjpwYXNz",
    "expired": lambda c, t: (
        "Bearer "
        + c.identity.tokens.mint_expired(t, datetime.now(UTC), ago=timedelta(minutes=10), roles=[MANAGE])
    ),
    "not-yet-valid": lambda c, t: (
        "Bearer "
        + c.identity.tokens.mint_not_yet_valid(
            t, datetime.now(UTC), ahead=timedelta(minutes=10), roles=[MANAGE]
        )
    ),
    "unknown-signing-key": lambda c, t: (
        "Bearer " + c.identity.tokens.with_key(generate_rsa_key()).mint(t, roles=[MANAGE])
    ),
    "unknown-kid": lambda c, t: "Bearer " + c.identity.tokens.with_kid("no-such-kid").mint(t, roles=[MANAGE]),
    "alg-none": lambda c, t: "Bearer " + c.identity.tokens.mint_alg_none(t, roles=[MANAGE]),
    "hs256-with-public-key": lambda c, t: (
        "Bearer " + c.identity.tokens.mint_hs256_with_public_key(t, roles=[MANAGE])
    ),
    "wrong-audience": lambda c, t: (
        "Bearer " + c.identity.tokens.mint(t, roles=[MANAGE], aud="api://someone-else")
    ),
    "wrong-issuer": lambda c, t: (
        "Bearer " + c.identity.tokens.mint(t, roles=[MANAGE], iss="https://evil.example/v2.0")
    ),
}


@pytest.mark.parametrize("case", sorted(TOKEN_CASES))
def test_a_bad_token_is_401_without_detail_and_changes_nothing(
    client: ConsentClient, tenant_id: str, case: str
) -> None:
    before = client.state(tenant_id)
    authorization = TOKEN_CASES[case](client, tenant_id)
    headers = {"Authorization": authorization} if authorization else {}
    response = client.host.request("PUT", consent(tenant_id), headers=headers, json={})
    problem = assert_problem(response, 401)
    assert "detail" not in problem
    assert client.state(tenant_id) == before


def test_another_tenants_token_is_403_and_changes_nothing(client: ConsentClient, tenant_id: str) -> None:
    before = client.state(tenant_id)
    other = client.bearer(str(uuid.uuid4()))
    assert_problem(client.put(consent(tenant_id), tenant_id, authorization=other), 403)
    assert client.state(tenant_id) == before


def test_a_token_without_the_role_is_403_and_changes_nothing(client: ConsentClient, tenant_id: str) -> None:
    before = client.state(tenant_id)
    assert_problem(client.put(consent(tenant_id), tenant_id, roles=()), 403)
    assert_problem(client.get(f"/api/tenants/{tenant_id}/audit", tenant_id, roles=("Insights.Read",)), 403)
    assert client.state(tenant_id) == before


def test_opting_out_someone_else_without_the_role_is_403(client: ConsentClient, tenant_id: str) -> None:
    path = f"/api/tenants/{tenant_id}/opt-outs/users/{uuid.uuid4()}"
    assert_problem(client.put(path, tenant_id, roles=(), oid=str(uuid.uuid4())), 403)
    assert client.get(f"/api/tenants/{tenant_id}/opt-outs", tenant_id).json()["users"] == []


# --- route IDs and bodies ----------------------------------------------------------------------------------


def test_a_non_guid_tenant_in_the_route_is_400(client: ConsentClient, tenant_id: str) -> None:
    authorization = client.bearer(tenant_id)
    problem = assert_problem(client.host.request("GET", "/api/tenants/contoso/consent",
                                                 headers={"Authorization": authorization}), 400)  # fmt: skip
    assert problem["errors"] == [{"field": "tenantId", "message": "must be a GUID"}]


def test_a_non_guid_user_in_the_route_is_400_and_changes_nothing(
    client: ConsentClient, tenant_id: str
) -> None:
    before = client.state(tenant_id)
    assert_problem(client.put(f"/api/tenants/{tenant_id}/opt-outs/users/alice", tenant_id), 400)
    assert client.state(tenant_id) == before


BAD_GROUP_BODIES: dict[str, tuple[dict[str, Any], int]] = {
    "malformed-json": ({"content": b'{"groupIds": [', "headers": {"Content-Type": "application/json"}}, 400),
    "json-not-an-object": ({"json": ["a"]}, 400),
    "group-ids-not-a-list": ({"json": {"groupIds": "0b8f6c1e-9a55-4f0e-8a3c-6f1c2d3e4f50"}}, 400),
    "non-guid-group": ({"json": {"groupIds": ["sales-team"]}}, 400),
    "unknown-field": ({"json": {"groupIds": [], "replace": True}}, 400),
    "missing-group-ids": ({"json": {}}, 400),
    "non-json-content-type": ({"content": b"groupIds=1", "headers": {"Content-Type": "text/plain"}}, 415),
    "oversized": ({"json": {"groupIds": [], "padding": "x" * (64 * 1024)}}, 413),
}


@pytest.mark.parametrize("case", sorted(BAD_GROUP_BODIES))
def test_a_bad_groups_body_is_refused_and_changes_nothing(
    client: ConsentClient, tenant_id: str, case: str
) -> None:
    kwargs, status = BAD_GROUP_BODIES[case]
    before = client.state(tenant_id)
    assert_problem(client.put(f"/api/tenants/{tenant_id}/opt-outs/groups", tenant_id, **kwargs), status)
    assert client.state(tenant_id) == before
    assert client.audit(tenant_id) == []


def test_a_grant_with_a_non_guid_group_is_400_and_changes_nothing(
    client: ConsentClient, tenant_id: str
) -> None:
    before = client.state(tenant_id)
    problem = assert_problem(client.put(consent(tenant_id), tenant_id, json={"optedOutGroupIds": ["x"]}), 400)
    assert problem["errors"] == [{"field": "optedOutGroupIds[0]", "message": "must be a GUID"}]
    assert client.state(tenant_id) == before


# Bodies no JSON parser should be trusted with: each must be a 400 problem (never a 500) and change nothing.
HOSTILE_JSON: dict[str, bytes] = {
    "nested-20000-deep": b'{"groupIds": ' + b"[" * 20_000 + b"]" * 20_000 + b"}",
    "nested-40-deep": b'{"groupIds": [], "x": ' + b"[" * 40 + b"]" * 40 + b"}",
    "integer-of-5000-digits": b'{"groupIds": [], "x": ' + b"9" * 5000 + b"}",
    "nan": b'{"groupIds": [], "x": NaN}',
    "infinity": b'{"groupIds": [], "x": Infinity}',
    "minus-infinity": b'{"groupIds": [], "x": -Infinity}',
    "invalid-utf8": b'{"groupIds": ["\xff\xfe"]}',
    "byte-order-mark": b'\xef\xbb\xbf{"groupIds": []}',
    "lone-surrogate-escape": b'{"groupIds": ["\\ud800"]}',
    "utf16-body": '{"groupIds": []}'.encode("utf-16"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_JSON))
def test_a_hostile_json_body_is_400_and_changes_nothing(
    client: ConsentClient, tenant_id: str, case: str
) -> None:
    before = client.state(tenant_id)
    response = client.put(
        f"/api/tenants/{tenant_id}/opt-outs/groups", tenant_id, content=HOSTILE_JSON[case],
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    problem = assert_problem(response, 400)
    assert problem["type"].endswith("/malformed-body")
    assert client.state(tenant_id) == before
    assert client.audit(tenant_id) == []


BAD_PAGING = {
    "limit-zero": {"limit": "0"},
    "limit-word": {"limit": "ten"},
    "limit-superscript-two": {"limit": "\u00b2"},
    "limit-arabic-indic-three": {"limit": "\u0663"},
    "limit-fullwidth-five": {"limit": "\uff15"},
    "limit-too-large": {"limit": "201"},
    "limit-negative": {"limit": "-1"},
    "limit-ten-digits": {"limit": "1234567890"},
    "continuation-garbage": {"continuation": "garbage"},
}


@pytest.mark.parametrize("route", ["audit", "purges"])
@pytest.mark.parametrize("case", sorted(BAD_PAGING))
def test_bad_paging_parameters_are_400(client: ConsentClient, tenant_id: str, route: str, case: str) -> None:
    response = client.get(f"/api/tenants/{tenant_id}/{route}", tenant_id, params=BAD_PAGING[case])
    assert_problem(response, 400)


def test_purges_are_paged_with_a_continuation(client: ConsentClient, tenant_id: str) -> None:
    for _ in range(3):
        user = str(uuid.uuid4())
        assert client.put(f"/api/tenants/{tenant_id}/opt-outs/users/{user}", tenant_id).status_code == 202
    first = client.get(f"/api/tenants/{tenant_id}/purges", tenant_id, params={"limit": "2"}).json()
    assert len(first["purges"]) == 2
    rest = client.get(
        f"/api/tenants/{tenant_id}/purges",
        tenant_id,
        params={"limit": "2", "continuation": first["continuation"]},
    ).json()
    assert (len(rest["purges"]), rest["continuation"]) == (1, None)
    ids = [p["id"] for p in first["purges"] + rest["purges"]]
    assert len(set(ids)) == 3


def test_a_route_id_crafted_to_forge_log_lines_is_refused_and_not_logged_raw(
    client: ConsentClient, tenant_id: str
) -> None:
    forged = "x%0A[2026-11-27T09:00:00.000Z] Executed 'Functions.forged' (Succeeded)"
    assert client.host.request("GET", f"/api/tenants/{forged}/consent").status_code in (400, 401, 404)
    response = client.host.request(
        "GET", f"/api/tenants/{forged}/consent", headers={"Authorization": client.bearer(tenant_id)}
    )
    assert response.status_code in (400, 403, 404)
    assert "Functions.forged" not in client.host.log_text()
