"""Consent rules: states, per-feature enablement at a time t, legacy records and their one-time migration."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from functions.domain.consent import (
    TenantConsent,
    enabled_features,
    feature_status,
    grant,
    import_legacy,
    legacy_excluded_groups,
    revoke,
)
from functions.domain.events import Provenance
from functions.domain.scope import Feature

T0 = datetime(2022, 6, 1, tzinfo=UTC)
RA_EXPIRY = datetime(2022, 9, 30, 23, 59, 59, tzinfo=UTC)
WKW_EXPIRY = datetime(2022, 7, 30, 23, 59, 59, tzinfo=UTC)
TENANT = str(uuid.uuid4())
G1, G2, G3 = (str(uuid.uuid4()) for _ in range(3))


def change(at: datetime, event_id: str | None = None) -> Provenance:
    return Provenance("admin", event_id or f"evt-{uuid.uuid4()}", at, "webhook", at)


def with_legacy(
    consent: TenantConsent,
    feature: Feature = "relationship_analytics",
    groups: frozenset[str] = frozenset(),
    *,
    at: datetime = T0,
    expires_at: datetime = RA_EXPIRY,
) -> TenantConsent:
    transition = import_legacy(
        consent, feature, granted_at=T0 - timedelta(days=700), expires_at=expires_at,
        opted_out_group_ids=groups, provenance=change(at),
    )  # fmt: skip
    return transition.consent


def test_a_new_tenant_has_no_consent_and_nothing_enabled() -> None:
    consent = TenantConsent(TENANT)
    assert consent.state == "none"
    assert enabled_features(consent, T0) == frozenset()
    assert feature_status(consent, "who_knows_whom", T0).basis == "none"


def test_a_grant_enables_both_features_on_the_basis_of_consent() -> None:
    consent = grant(TenantConsent(TENANT), change(T0)).consent
    assert consent.state == "granted"
    assert enabled_features(consent, T0) == {"relationship_analytics", "who_knows_whom"}
    assert feature_status(consent, "relationship_analytics", T0).basis == "consent"


def test_the_grant_keeps_who_when_and_which_event() -> None:
    provenance = change(T0, "evt-grant")
    transition = grant(TenantConsent(TENANT), provenance)
    assert transition.consent.granted == provenance
    assert [c.kind for c in transition.changes] == ["granted"]


def test_an_unexpired_legacy_record_enables_only_its_feature() -> None:
    consent = with_legacy(TenantConsent(TENANT), "relationship_analytics")
    assert enabled_features(consent, T0) == {"relationship_analytics"}
    assert feature_status(consent, "relationship_analytics", T0).basis == "legacy"


def test_a_legacy_record_stops_enabling_its_feature_at_expiry() -> None:
    consent = with_legacy(TenantConsent(TENANT), "who_knows_whom", expires_at=WKW_EXPIRY)
    assert feature_status(consent, "who_knows_whom", WKW_EXPIRY - timedelta(seconds=1)).enabled
    status = feature_status(consent, "who_knows_whom", WKW_EXPIRY)
    assert (status.enabled, status.basis, status.legacy_status) == (False, "none", "expired")


def test_a_revoked_tenant_has_nothing_enabled_even_with_an_unexpired_legacy_record() -> None:
    consent = with_legacy(TenantConsent(TENANT))
    consent = revoke(consent, change(T0 + timedelta(hours=1)), "purge-1").consent
    assert enabled_features(consent, T0 + timedelta(hours=1)) == frozenset()


def test_a_grant_migrates_legacy_groups_and_supersedes_the_records() -> None:
    consent = with_legacy(TenantConsent(TENANT), "relationship_analytics", frozenset({G1}))
    consent = with_legacy(consent, "who_knows_whom", frozenset({G2}), expires_at=WKW_EXPIRY)
    transition = grant(consent, change(T0 + timedelta(days=1)))
    assert transition.migrated_group_ids == {G1, G2}
    assert {r.status for r in transition.consent.legacy.values()} == {"superseded"}


def test_a_second_grant_migrates_nothing_again() -> None:
    consent = with_legacy(TenantConsent(TENANT), groups=frozenset({G1}))
    consent = grant(consent, change(T0 + timedelta(days=1))).consent
    consent = revoke(consent, change(T0 + timedelta(days=2)), "purge-1").consent
    again = grant(consent, change(T0 + timedelta(days=3)))
    assert again.migrated_group_ids == frozenset()
    assert again.consent.state == "granted"


def test_a_legacy_record_imported_after_the_grant_is_superseded_and_migrated_at_once() -> None:
    consent = grant(TenantConsent(TENANT), change(T0)).consent
    transition = import_legacy(
        consent, "who_knows_whom", granted_at=T0 - timedelta(days=30), expires_at=WKW_EXPIRY,
        opted_out_group_ids=frozenset({G3}), provenance=change(T0 + timedelta(minutes=1)),
    )  # fmt: skip
    assert transition.migrated_group_ids == {G3}
    assert transition.consent.legacy["who_knows_whom"].status == "superseded"


def test_a_reimported_legacy_record_migrates_only_groups_never_migrated() -> None:
    consent = grant(
        with_legacy(TenantConsent(TENANT), groups=frozenset({G1})), change(T0 + timedelta(days=1))
    )
    transition = import_legacy(
        consent.consent, "relationship_analytics", granted_at=T0, expires_at=RA_EXPIRY,
        opted_out_group_ids=frozenset({G1, G2}), provenance=change(T0 + timedelta(days=2)),
    )  # fmt: skip
    assert transition.migrated_group_ids == {G2}


def test_the_same_legacy_record_imported_twice_changes_nothing_but_its_ordering_key() -> None:
    consent = with_legacy(TenantConsent(TENANT), groups=frozenset({G1}))
    restated_at = T0 + timedelta(hours=1)
    transition = import_legacy(
        consent, "relationship_analytics", granted_at=T0 - timedelta(days=700), expires_at=RA_EXPIRY,
        opted_out_group_ids=frozenset({G1}), provenance=change(restated_at),
    )  # fmt: skip
    record = transition.consent.legacy["relationship_analytics"]
    assert transition.outcome == "unchanged"
    assert record.same_content(consent.legacy["relationship_analytics"])
    assert record.imported.event_time == restated_at


def test_legacy_groups_exclude_only_while_the_legacy_record_is_the_basis() -> None:
    consent = with_legacy(TenantConsent(TENANT), groups=frozenset({G1}))
    assert legacy_excluded_groups(consent, T0) == {G1}
    assert legacy_excluded_groups(consent, RA_EXPIRY) == frozenset()


def test_a_grant_older_than_the_last_consent_change_is_stale() -> None:
    consent = revoke(TenantConsent(TENANT), change(T0 + timedelta(hours=2)), "purge-1").consent
    transition = grant(consent, change(T0 + timedelta(hours=1)))
    assert transition.outcome == "stale"
    assert transition.consent == consent


def test_an_administrator_acting_through_the_api_is_never_stale() -> None:
    consent = revoke(TenantConsent(TENANT), change(T0 + timedelta(hours=2)), "purge-1").consent
    at = T0 + timedelta(hours=1)
    transition = grant(consent, Provenance("admin", f"api-{uuid.uuid4()}", at, "api", at))
    assert transition.consent.state == "granted"
    assert transition.consent.last_event_time == T0 + timedelta(hours=2)


def test_the_same_event_applied_again_is_a_duplicate() -> None:
    provenance = change(T0, "evt-1")
    consent = grant(TenantConsent(TENANT), provenance).consent
    assert grant(consent, provenance).outcome == "duplicate"


def test_revoking_twice_points_at_the_first_purge() -> None:
    consent = revoke(TenantConsent(TENANT), change(T0), "purge-1").consent
    again = revoke(consent, change(T0 + timedelta(hours=1)), "purge-2")
    assert (again.outcome, again.purge_id, again.consent.revoke_purge_id) == (
        "unchanged",
        "purge-1",
        "purge-1",
    )


def test_a_grant_older_than_a_repeated_revocation_is_stale() -> None:
    consent = revoke(TenantConsent(TENANT), change(T0), "purge-1").consent
    consent = revoke(consent, change(T0 + timedelta(hours=2)), "purge-2").consent
    assert grant(consent, change(T0 + timedelta(hours=1))).outcome == "stale"


def test_a_stale_revocation_changes_nothing_but_carries_its_own_purge() -> None:
    consent = grant(TenantConsent(TENANT), change(T0 + timedelta(hours=2))).consent
    transition = revoke(consent, change(T0 + timedelta(hours=1)), "purge-1")
    assert (transition.outcome, transition.consent, transition.purge_id) == ("stale", consent, "purge-1")


def test_a_stale_revocation_of_a_revoked_tenant_carries_the_purge_in_force() -> None:
    consent = revoke(TenantConsent(TENANT), change(T0 + timedelta(hours=2)), "purge-1").consent
    transition = revoke(consent, change(T0 + timedelta(hours=1)), "purge-2")
    assert (transition.outcome, transition.purge_id) == ("stale", "purge-1")


def test_a_grant_made_in_the_same_instant_as_the_revocation_in_force_is_stale() -> None:
    consent = revoke(TenantConsent(TENANT), change(T0), "purge-1").consent
    assert grant(consent, change(T0)).outcome == "stale"


def test_a_revocation_made_in_the_same_instant_as_the_grant_in_force_applies() -> None:
    consent = grant(TenantConsent(TENANT), change(T0)).consent
    assert revoke(consent, change(T0), "purge-1").consent.state == "revoked"


def test_a_revocation_keeps_the_grant_in_the_record() -> None:
    granted = grant(TenantConsent(TENANT), change(T0, "evt-grant")).consent
    revoked = revoke(granted, change(T0 + timedelta(hours=1), "evt-revoke"), "purge-1").consent
    assert revoked.granted == granted.granted
    assert revoked.revoked is not None
    assert revoked.revoked.event_id == "evt-revoke"
    assert revoked.version == granted.version + 1
