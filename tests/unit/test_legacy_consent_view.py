"""`GET /consent` per feature: `enabled`, `basis` and the legacy record with its expiry, at the exact
instants around the expiry, and always valid against the OpenAPI schema it publishes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from functions.domain.consent import TenantConsent, grant, import_legacy, revoke
from functions.domain.events import Provenance
from functions.domain.legacy import expire_legacy
from functions.domain.optouts import GroupOptOuts
from functions.entrypoints.consent_views import consent_view
from functions.entrypoints.openapi import document

EXPIRY = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
TENANT, GROUP = str(uuid.uuid4()), str(uuid.uuid4())


def change(at: datetime) -> Provenance:
    return Provenance("admin", f"evt-{uuid.uuid4()}", at, "webhook", at)


def on_legacy() -> TenantConsent:
    return import_legacy(
        TenantConsent(TENANT), "who_knows_whom", granted_at=EXPIRY - timedelta(days=700), expires_at=EXPIRY,
        opted_out_group_ids=frozenset({GROUP}), provenance=change(EXPIRY - timedelta(days=1)),
    ).consent  # fmt: skip


def view(consent: TenantConsent, now: datetime) -> dict[str, Any]:
    body = consent_view(consent, GroupOptOuts(TENANT), now)
    schema = {"$ref": "#/components/schemas/Consent", "components": document()["components"]}
    Draft202012Validator(schema).validate(body)
    return body


def feature(body: dict[str, Any], name: str = "who_knows_whom") -> dict[str, Any]:
    shown: dict[str, Any] = body["features"][name]
    return shown


def test_one_second_before_the_expiry_the_feature_is_enabled_on_the_legacy_basis() -> None:
    shown = feature(view(on_legacy(), EXPIRY - SECOND))
    assert (shown["enabled"], shown["basis"], shown["legacy"]["status"]) == (True, "legacy", "active")
    assert shown["legacy"]["expiresAt"] == "2026-12-01T12:00:00Z"


@pytest.mark.parametrize("late", [timedelta(0), SECOND], ids=["at", "1s-after"])
def test_from_the_expiry_instant_the_feature_shows_disabled_even_before_the_timer_ran(
    late: timedelta,
) -> None:
    shown = feature(view(on_legacy(), EXPIRY + late))
    assert (shown["enabled"], shown["basis"], shown["legacy"]["status"]) == (False, "none", "expired")


def test_after_the_timer_the_stored_expiry_shows_the_same() -> None:
    now = EXPIRY + timedelta(minutes=15)
    shown = feature(view(expire_legacy(on_legacy(), now).consent, now))
    assert (shown["enabled"], shown["basis"], shown["legacy"]["status"]) == (False, "none", "expired")


def test_a_feature_without_a_legacy_record_shows_none_and_no_legacy_details() -> None:
    shown = feature(view(on_legacy(), EXPIRY - SECOND), "relationship_analytics")
    assert (shown["enabled"], shown["basis"], shown["legacy"]) == (False, "none", None)


def test_after_a_grant_the_basis_is_the_consent_and_the_legacy_record_is_superseded() -> None:
    granted = grant(on_legacy(), change(EXPIRY - timedelta(hours=1))).consent
    shown = feature(view(granted, EXPIRY + SECOND))
    assert (shown["enabled"], shown["basis"], shown["legacy"]["status"]) == (True, "consent", "superseded")
    assert shown["legacy"]["optedOutGroupIds"] == [GROUP]


def test_a_revoked_tenant_shows_the_unexpired_legacy_record_but_nothing_enabled() -> None:
    revoked = revoke(on_legacy(), change(EXPIRY - timedelta(hours=1)), "purge-1").consent
    shown = feature(view(revoked, EXPIRY - SECOND))
    assert (shown["enabled"], shown["basis"], shown["legacy"]["status"]) == (False, "none", "active")
