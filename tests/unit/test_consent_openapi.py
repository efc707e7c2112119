"""The OpenAPI schemas of the consent routes and the webhook describe what the code really sends and takes."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from functions.domain.audit import AuditEntry, AuditPage
from functions.domain.consent import TenantConsent, grant, import_legacy
from functions.domain.events import Provenance
from functions.domain.optouts import GroupOptOuts, add_groups, change_user
from functions.domain.purge import GroupScope, PurgeStep, new_purge
from functions.domain.scope import Scope
from functions.entrypoints.consent_views import (
    audit_page_view,
    consent_view,
    groups_view,
    purge_view,
    users_view,
)
from functions.entrypoints.openapi import document
from tests.support import admin_center as ac

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
TENANT = str(uuid.uuid4())
USER, GROUP = str(uuid.uuid4()), str(uuid.uuid4())


def validator(schema_name: str) -> Draft202012Validator:
    """A validator of one component schema, resolving `$ref`s inside the whole document."""
    return Draft202012Validator(
        {"$ref": f"#/components/schemas/{schema_name}", "components": document()["components"]}
    )


def assert_valid(schema_name: str, instance: Any) -> None:
    errors = [e.message for e in validator(schema_name).iter_errors(instance)]
    assert errors == [], errors


def change(at: datetime = T0) -> Provenance:
    return Provenance("admin-oid", f"evt-{uuid.uuid4()}", at, "webhook", at)


def test_a_granted_consent_with_legacy_records_matches_its_schema() -> None:
    consent = import_legacy(
        TenantConsent(TENANT), "who_knows_whom", granted_at=T0 - timedelta(days=9),
        expires_at=T0 + timedelta(days=1), opted_out_group_ids=frozenset({GROUP}), provenance=change(),
    ).consent  # fmt: skip
    consent = grant(consent, change(T0 + timedelta(minutes=1))).consent
    groups = add_groups(GroupOptOuts(TENANT), [GROUP], "legacy-migration", change()).groups
    assert_valid("Consent", consent_view(consent, groups, T0))


def test_a_tenant_without_consent_matches_the_consent_schema() -> None:
    assert_valid("Consent", consent_view(TenantConsent(TENANT), GroupOptOuts(TENANT), T0))


def test_the_opt_out_lists_match_their_schema() -> None:
    user = change_user(
        None, tenant_id=TENANT, user_id=USER, opted_out=True, provenance=change(), purge_id=str(uuid.uuid4())
    ).user
    assert user is not None
    groups = add_groups(GroupOptOuts(TENANT), [GROUP], "admin", change()).groups
    assert_valid("OptOuts", {"groups": groups_view(groups), "users": users_view([user])})


def test_purges_of_every_scope_with_steps_match_the_purge_list_schema() -> None:
    scopes = [
        Scope("tenant", TENANT),
        Scope("user", TENANT, user_id=USER),
        Scope("feature", TENANT, feature="relationship_analytics"),
        GroupScope(TENANT, frozenset({GROUP})),
    ]
    records = [new_purge(scope, "group-opt-out", change()) for scope in scopes]
    records[0] = replace(records[0], steps=(PurgeStep("live-deleted", T0, {"slices": 4}),), verified_at=T0)
    assert_valid("PurgeList", {"purges": [purge_view(r) for r in records], "continuation": None})


def test_an_audit_page_matches_its_schema() -> None:
    entry = AuditEntry(TENANT, T0, "webhook.received", "applied", webhook_id="msg_1", id="0001-x")
    assert_valid("AuditPage", audit_page_view(AuditPage([entry], "token")))


@pytest.mark.parametrize(
    "event",
    [
        ac.granted(TENANT, T0, [GROUP]),
        ac.revoked(TENANT, T0),
        ac.groups_replaced(TENANT, [GROUP], T0),
        ac.user_changed(TENANT, USER, T0),
        ac.legacy_imported(TENANT, "who_knows_whom", T0, granted_at=T0, expires_at=T0 + timedelta(days=1)),
    ],
    ids=lambda event: event["type"],
)
def test_each_event_type_the_webhook_accepts_matches_the_event_schema(event: dict[str, Any]) -> None:
    assert_valid("AdminCenterEvent", event)


def test_the_event_schema_refuses_an_unknown_data_field_as_the_code_does() -> None:
    event = ac.user_changed(TENANT, USER, T0)
    event["data"]["reason"] = "x"
    assert list(validator("AdminCenterEvent").iter_errors(event))


def test_a_webhook_receipt_matches_its_schema() -> None:
    receipt = {"webhookId": "msg_1", "eventId": "evt-1", "type": "consent.revoked", "outcome": "applied",
               "purgeId": str(uuid.uuid4())}  # fmt: skip
    assert_valid("WebhookReceipt", receipt)


def test_request_bodies_match_their_schemas() -> None:
    assert_valid("GrantRequest", {})
    assert_valid("GrantRequest", {"optedOutGroupIds": [GROUP]})
    assert_valid("GroupsRequest", {"groupIds": [GROUP]})
    assert list(validator("GroupsRequest").iter_errors({"groupIds": GROUP}))
