"""Consent and opt-out use cases over in-memory stores: what they write, queue and audit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from functions.domain.events import LegacyConsentImported, Provenance
from functions.domain.purge import GroupScope
from functions.domain.scope import Scope
from functions.services.consent import api_provenance
from tests.support.container import Services

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
TENANT = str(uuid.uuid4())
USER = str(uuid.uuid4())
G1, G2 = str(uuid.uuid4()), str(uuid.uuid4())


def change(at: datetime = T0) -> Provenance:
    return Provenance("admin-oid", f"evt-{uuid.uuid4()}", at, "webhook", at)


def with_legacy_groups(
    services: Services, groups: frozenset[str], expires_at: datetime | None = T0 + timedelta(days=30)
) -> None:
    legacy = LegacyConsentImported(
        TENANT, "relationship_analytics", T0 - timedelta(days=30), expires_at, groups
    )
    services.consent.import_legacy(legacy, change(T0 - timedelta(days=1)))


def test_a_grant_asks_ingestion_to_start_the_backfill_now() -> None:
    services = Services()
    services.consent.grant(TENANT, frozenset(), change())
    assert services.queues.ingest == [{"type": "tenant.schedule", "tenantId": TENANT}]


def test_a_repeated_grant_does_not_schedule_ingestion_again() -> None:
    services = Services()
    services.consent.grant(TENANT, frozenset(), change())
    services.consent.grant(TENANT, frozenset(), change(T0 + timedelta(minutes=1)))
    assert len(services.queues.ingest) == 1


def test_a_grant_migrates_legacy_groups_with_source_legacy_migration() -> None:
    services = Services()
    with_legacy_groups(services, frozenset({G1}))
    services.consent.grant(TENANT, frozenset({G2}), change())
    entries = services.optouts.load_groups(TENANT).groups.entries
    assert {g: e.source for g, e in entries.items()} == {G1: "legacy-migration", G2: "consent-grant"}


def test_a_legacy_import_keeps_its_configured_default_expiry() -> None:
    services = Services()
    with_legacy_groups(services, frozenset(), expires_at=None)
    record = services.consents.load(TENANT).consent.legacy["relationship_analytics"]
    assert record.expires_at == datetime(2022, 9, 30, 23, 59, 59, tzinfo=UTC)


def test_a_revocation_creates_a_queued_tenant_purge_with_its_deadlines() -> None:
    services = Services()
    services.consent.grant(TENANT, frozenset(), change())
    result = services.consent.revoke(TENANT, change(T0 + timedelta(hours=1)))
    record = services.purges.get(TENANT, str(result.purge_id))
    assert record is not None
    assert (record.scope, record.reason, record.status) == (
        Scope("tenant", TENANT),
        "consent-revoked",
        "queued",
    )
    assert record.live_deadline - record.requested_at == timedelta(hours=24)
    assert record.backup_deadline - record.requested_at == timedelta(days=30)
    assert services.queues.purges == [{"tenantId": TENANT, "purgeId": record.id}]


def test_revoking_again_returns_the_first_purge_and_queues_nothing_more() -> None:
    services = Services()
    first = services.consent.revoke(TENANT, api_provenance("admin", T0))
    again = services.consent.revoke(TENANT, api_provenance("admin", T0 + timedelta(hours=1)))
    assert again.purge_id == first.purge_id
    assert len(services.queues.purges) == 1


def test_a_user_opt_out_creates_a_user_purge() -> None:
    services = Services()
    result = services.optout.set_user(TENANT, USER, opted_out=True, provenance=change())
    record = services.purges.get(TENANT, str(result.purge_id))
    assert record is not None
    assert (record.scope, record.reason) == (Scope("user", TENANT, user_id=USER), "user-opt-out")


def test_opting_back_in_starts_no_purge() -> None:
    services = Services()
    services.optout.set_user(TENANT, USER, opted_out=True, provenance=change())
    result = services.optout.set_user(
        TENANT, USER, opted_out=False, provenance=change(T0 + timedelta(minutes=1))
    )
    assert result.purge_id is None
    assert len(services.purges.list(TENANT)) == 1


def test_newly_opted_out_groups_get_one_group_purge_under_the_purge_policy() -> None:
    services = Services()
    services.optout.replace_groups(TENANT, frozenset({G1}), change())
    change_two = services.optout.replace_groups(
        TENANT, frozenset({G1, G2}), change(T0 + timedelta(minutes=1))
    )
    record = services.purges.get(TENANT, str(change_two.result.purge_id))
    assert record is not None
    assert record.scope == GroupScope(TENANT, frozenset({G2}))
    assert record.reason == "group-opt-out"


def test_the_retain_policy_starts_no_purge_for_a_group_opt_out() -> None:
    services = Services(group_policy="retain")
    result = services.optout.replace_groups(TENANT, frozenset({G1}), change())
    assert result.result.purge_id is None
    assert services.purges.list(TENANT) == []


def test_removing_groups_starts_no_purge() -> None:
    services = Services()
    services.optout.replace_groups(TENANT, frozenset({G1}), change())
    result = services.optout.replace_groups(TENANT, frozenset(), change(T0 + timedelta(minutes=1)))
    assert result.result.purge_id is None


def test_groups_in_a_grant_while_a_legacy_record_was_in_force_are_purged() -> None:
    services = Services()
    with_legacy_groups(services, frozenset({G1}))
    result = services.consent.grant(TENANT, frozenset({G1, G2}), change())
    record = services.purges.get(TENANT, str(result.purge_id))
    assert record is not None
    assert record.scope == GroupScope(TENANT, frozenset({G2}))  # G1 was already excluded by the legacy form


def test_every_change_is_audited_with_who_and_which_event() -> None:
    services = Services()
    provenance = change()
    services.consent.grant(TENANT, frozenset(), provenance)
    entry = services.audit.of(TENANT)[0]
    assert (entry.kind, entry.outcome, entry.actor_id, entry.event_id) == (
        "consent.granted", "applied", "admin-oid", provenance.event_id,
    )  # fmt: skip


def test_the_consent_history_keeps_every_change_newest_first() -> None:
    services = Services()
    services.consent.grant(TENANT, frozenset(), change())
    services.consent.revoke(TENANT, change(T0 + timedelta(hours=1)))
    assert [c.kind for c in services.consents.history(TENANT)] == ["revoked", "granted"]
