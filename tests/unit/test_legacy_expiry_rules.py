"""Legacy expiry rules at the exact instants: one second before the expiry, at it, and after it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from functions.domain.consent import (
    TenantConsent,
    enabled_features,
    feature_status,
    grant,
    import_legacy,
    revoke,
)
from functions.domain.events import Provenance
from functions.domain.legacy import expire_legacy
from functions.domain.scope import Feature

EXPIRY = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
TENANT = str(uuid.uuid4())


def change(at: datetime) -> Provenance:
    return Provenance("admin", f"evt-{uuid.uuid4()}", at, "webhook", at)


def on_legacy(
    feature: Feature = "relationship_analytics",
    expires_at: datetime = EXPIRY,
    consent: TenantConsent | None = None,
) -> TenantConsent:
    return import_legacy(
        consent or TenantConsent(TENANT), feature, granted_at=EXPIRY - timedelta(days=700),
        expires_at=expires_at, opted_out_group_ids=frozenset(), provenance=change(EXPIRY - timedelta(days=1)),
    ).consent  # fmt: skip


def test_one_second_before_the_expiry_nothing_expires() -> None:
    consent = on_legacy()
    expiry = expire_legacy(consent, EXPIRY - SECOND)
    assert (expiry.changed, expiry.consent) == (False, consent)
    assert feature_status(consent, "relationship_analytics", EXPIRY - SECOND).basis == "legacy"


@pytest.mark.parametrize(
    "late", [timedelta(0), SECOND, timedelta(days=3)], ids=["at", "1s-after", "3d-after"]
)
def test_at_and_after_the_expiry_the_record_is_recorded_expired(late: timedelta) -> None:
    now = EXPIRY + late
    expiry = expire_legacy(on_legacy(), now)
    record = expiry.consent.legacy["relationship_analytics"]
    assert expiry.expired == ("relationship_analytics",)
    assert (record.status, record.status_changed_at) == ("expired", now)
    assert not feature_status(expiry.consent, "relationship_analytics", now).enabled


def test_recording_an_expiry_moves_the_version_and_appends_a_legacy_expired_change() -> None:
    consent = on_legacy()
    expiry = expire_legacy(consent, EXPIRY)
    assert expiry.consent.version == consent.version + 1
    assert [(c.kind, c.feature) for c in expiry.changes] == [("legacy-expired", "relationship_analytics")]


def test_the_expiry_change_has_no_actor_and_takes_effect_at_the_expiry_instant() -> None:
    now = EXPIRY + timedelta(minutes=14)
    stamp = expire_legacy(on_legacy(), now).provenance["relationship_analytics"]
    assert (stamp.actor_id, stamp.event_time, stamp.recorded_at) == (None, EXPIRY, now)


def test_an_expiry_and_the_purge_it_asks_for_are_recorded_as_the_timers_doing() -> None:
    expiry = expire_legacy(on_legacy(), EXPIRY)
    assert expiry.provenance["relationship_analytics"].source == "timer"
    assert expiry.tenant_purge is not None
    assert expiry.tenant_purge.source == "timer"


def test_an_expired_record_is_never_expired_twice() -> None:
    once = expire_legacy(on_legacy(), EXPIRY).consent
    again = expire_legacy(once, EXPIRY + timedelta(days=1))
    assert (again.changed, again.consent) == (False, once)


def test_a_superseded_record_does_not_expire() -> None:
    granted = grant(on_legacy(), change(EXPIRY - timedelta(hours=1))).consent
    assert expire_legacy(granted, EXPIRY + SECOND).changed is False


def test_each_feature_expires_at_its_own_instant() -> None:
    earlier = EXPIRY - timedelta(days=62)
    consent = on_legacy("who_knows_whom", earlier, on_legacy("relationship_analytics", EXPIRY))
    assert expire_legacy(consent, earlier).expired == ("who_knows_whom",)
    assert expire_legacy(consent, EXPIRY).expired == ("relationship_analytics", "who_knows_whom")


def test_expiry_without_a_grant_asks_for_a_purge_of_the_feature() -> None:
    assert expire_legacy(on_legacy(), EXPIRY).purge_features == ("relationship_analytics",)


def test_expiry_of_a_granted_tenant_purges_nothing_because_the_consent_covers_the_feature() -> None:
    # Granted after the record had expired by time: the grant does not supersede it, so it is still `active`.
    granted = grant(on_legacy(), change(EXPIRY + SECOND)).consent
    expiry = expire_legacy(granted, EXPIRY + 2 * SECOND)
    assert expiry.expired == ("relationship_analytics",)
    assert (expiry.purge_features, expiry.tenant_purge) == ((), None)
    assert enabled_features(expiry.consent, EXPIRY + 2 * SECOND) == {
        "relationship_analytics",
        "who_knows_whom",
    }


def test_the_last_enabled_feature_expiring_asks_for_a_tenant_purge_too() -> None:
    expiry = expire_legacy(on_legacy(), EXPIRY)
    assert expiry.tenant_purge is not None


def test_a_feature_expiring_while_another_stays_enabled_asks_for_no_tenant_purge() -> None:
    consent = on_legacy("who_knows_whom", EXPIRY + timedelta(days=30), on_legacy())
    expiry = expire_legacy(consent, EXPIRY)
    assert (expiry.purge_features, expiry.tenant_purge) == (("relationship_analytics",), None)


def test_a_revoked_tenant_gets_feature_purges_but_no_second_tenant_purge() -> None:
    revoked = revoke(on_legacy(), change(EXPIRY - timedelta(days=1)), "revocation-purge").consent
    expiry = expire_legacy(revoked, EXPIRY)
    assert (expiry.purge_features, expiry.tenant_purge) == (("relationship_analytics",), None)


def test_a_reimported_record_is_another_record_with_its_own_expiry_id() -> None:
    first = expire_legacy(on_legacy(), EXPIRY)
    renewed = on_legacy("relationship_analytics", EXPIRY + timedelta(days=30), first.consent)
    second = expire_legacy(renewed, EXPIRY + timedelta(days=30))
    ids = {e.provenance["relationship_analytics"].event_id for e in (first, second)}
    assert len(ids) == 2


# --- the purges' deadlines count from the expiry, not from the timer's run ----------------------------------


def test_a_timer_three_days_late_counts_the_purge_deadlines_from_the_expiry_instant() -> None:
    expiry = expire_legacy(on_legacy(), EXPIRY + timedelta(days=3))
    assert expiry.deadlines_from == {"relationship_analytics": EXPIRY}
    assert expiry.tenant_deadlines_from == EXPIRY


def test_the_tenant_purge_counts_from_the_instant_the_last_enabled_feature_expired() -> None:
    earlier = EXPIRY - timedelta(hours=6)  # after the import, a day before EXPIRY
    consent = on_legacy("who_knows_whom", earlier, on_legacy("relationship_analytics", EXPIRY))
    expiry = expire_legacy(consent, EXPIRY + timedelta(days=3))
    assert expiry.deadlines_from == {"who_knows_whom": earlier, "relationship_analytics": EXPIRY}
    assert expiry.tenant_deadlines_from == EXPIRY


def test_a_record_imported_after_its_expiry_counts_the_deadlines_from_its_import() -> None:
    # Nothing could have known of the record before it arrived, so its purge cannot be late before that.
    imported_at = EXPIRY + timedelta(days=10)
    consent = import_legacy(
        TenantConsent(TENANT), "relationship_analytics", granted_at=EXPIRY - timedelta(days=700),
        expires_at=EXPIRY, opted_out_group_ids=frozenset(), provenance=change(imported_at),
    ).consent  # fmt: skip
    expiry = expire_legacy(consent, imported_at + timedelta(minutes=15))
    assert expiry.deadlines_from == {"relationship_analytics": imported_at}
    assert expiry.tenant_deadlines_from == imported_at


def test_restating_the_same_record_after_its_expiry_does_not_move_the_deadlines() -> None:
    consent = on_legacy()
    restated = import_legacy(
        consent, "relationship_analytics", granted_at=EXPIRY - timedelta(days=700), expires_at=EXPIRY,
        opted_out_group_ids=frozenset(), provenance=change(EXPIRY + timedelta(days=2)),
    )  # fmt: skip
    assert restated.outcome == "unchanged"
    expiry = expire_legacy(restated.consent, EXPIRY + timedelta(days=3))
    assert expiry.deadlines_from == {"relationship_analytics": EXPIRY}
