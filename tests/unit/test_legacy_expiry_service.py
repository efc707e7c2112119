"""The legacy-expiry maintenance step over in-memory stores, with the clock at the exact expiry instants:
what it stores, which purges it queues, what it audits, and that each record expires exactly once."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.domain.consent import ConsentChange, TenantConsent
from functions.domain.errors import StorageError
from functions.domain.events import LegacyConsentImported, Provenance
from functions.domain.purge import deadline_flags, deadline_outcomes
from functions.domain.scope import Feature, Scope
from functions.services.legacy import LegacyExpiryFailed, LegacyService
from functions.services.scheduling import SchedulingService
from tests.support.container import Services, memory_container
from tests.support.memory_stores import LEGACY_EXPIRY, MemoryConsentStore

EXPIRY = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


class FailingSaves(MemoryConsentStore):
    """A consent store whose saves fail for the tenants in `failing` (storage trouble)."""

    def __init__(self) -> None:
        super().__init__()
        self.failing: set[str] = set()

    def save(self, consent: TenantConsent, etag: str | None, changes: Sequence[ConsentChange]) -> None:
        if consent.tenant_id in self.failing:
            raise StorageError("the table did not answer")
        super().save(consent, etag, changes)


def with_failing_saves() -> tuple[Services, FailingSaves]:
    store = FailingSaves()
    return Services(consent_store=store), store


@pytest.fixture
def services() -> Services:
    return Services()


def legacy_of(services: Services) -> LegacyService:
    return services.legacy


def import_record(
    services: Services,
    tenant_id: str,
    feature: Feature = "relationship_analytics",
    expires_at: datetime | None = EXPIRY,
) -> None:
    event = LegacyConsentImported(tenant_id, feature, EXPIRY - timedelta(days=700), expires_at, frozenset())
    at = EXPIRY - timedelta(days=2)
    services.consent.import_legacy(event, Provenance(None, f"evt-{uuid.uuid4()}", at, "webhook", at))


def status(services: Services, tenant_id: str, feature: Feature = "relationship_analytics") -> str:
    return services.consents.load(tenant_id).consent.legacy[feature].status


def kinds(services: Services, tenant_id: str) -> list[str]:
    return [e.kind for e in services.audit.of(tenant_id)]


def test_one_second_before_the_expiry_the_timer_changes_nothing(services: Services, tenant_id: str) -> None:
    import_record(services, tenant_id)
    before = services.consents.load(tenant_id)
    counts = legacy_of(services).expire_due(EXPIRY - SECOND)
    assert counts == {"tenants": 0, "expired": 0, "purgesRequested": 0}
    assert services.consents.load(tenant_id) == before
    assert services.purges.list(tenant_id) == []


@pytest.mark.parametrize("late", [timedelta(0), SECOND], ids=["at", "1s-after"])
def test_at_the_expiry_the_timer_stores_expired_and_queues_a_feature_purge(
    services: Services, tenant_id: str, late: timedelta
) -> None:
    import_record(services, tenant_id, expires_at=EXPIRY)
    import_record(services, tenant_id, "who_knows_whom", expires_at=EXPIRY + timedelta(days=30))
    legacy_of(services).expire_due(EXPIRY + late)
    [purge] = services.purges.list(tenant_id)
    assert status(services, tenant_id) == "expired"
    assert (purge.scope, purge.reason, purge.status) == (
        Scope("feature", tenant_id, feature="relationship_analytics"),
        "legacy-expired",
        "queued",
    )
    assert (purge.live_deadline - EXPIRY, purge.backup_deadline - EXPIRY) == (
        timedelta(hours=24),
        timedelta(days=30),
    )
    assert services.queues.purges == [{"tenantId": tenant_id, "purgeId": purge.id}]


def test_the_last_feature_expiring_also_queues_a_tenant_purge_for_the_shared_data(
    services: Services, tenant_id: str
) -> None:
    import_record(services, tenant_id)
    result = legacy_of(services).expire_tenant(tenant_id, EXPIRY)
    scopes = {(p.scope.kind, p.reason) for p in services.purges.list(tenant_id)}
    assert scopes == {("feature", "legacy-expired"), ("tenant", "legacy-expired")}
    assert len(result.purge_ids) == 2


def test_the_expiry_its_purge_and_the_disabled_tenant_are_in_the_audit_log(
    services: Services, tenant_id: str
) -> None:
    import_record(services, tenant_id)
    legacy_of(services).expire_due(EXPIRY)
    expired = next(e for e in services.audit.of(tenant_id) if e.kind == "legacy.expired")
    feature_purge = next(p for p in services.purges.list(tenant_id) if p.scope.kind == "feature")
    assert (expired.outcome, expired.purge_id, expired.actor_id) == ("applied", feature_purge.id, None)
    assert kinds(services, tenant_id)[:4] == [
        "tenant.disabled",
        "legacy.expired",
        "purge.requested",
        "purge.requested",
    ]


def test_repeated_timer_runs_expire_each_record_exactly_once(services: Services, tenant_id: str) -> None:
    import_record(services, tenant_id)
    service = legacy_of(services)
    for minutes in (0, 15, 30):
        service.expire_due(EXPIRY + timedelta(minutes=minutes))
    assert len(services.purges.list(tenant_id)) == 2
    assert len(services.queues.purges) == 2
    assert kinds(services, tenant_id).count("legacy.expired") == 1
    assert [c.kind for c in services.consents.history(tenant_id)].count("legacy-expired") == 1


def test_a_run_that_failed_after_requesting_the_purges_heals_without_new_ones(tenant_id: str) -> None:
    services, store = with_failing_saves()
    import_record(services, tenant_id)
    store.failing.add(tenant_id)
    with pytest.raises(LegacyExpiryFailed):
        legacy_of(services).expire_due(EXPIRY)
    assert status(services, tenant_id) == "active"  # not stored: the next run finds the record due again
    assert len(services.purges.list(tenant_id)) == 2  # requested before the status, so never lost
    store.failing.clear()
    legacy_of(services).expire_due(EXPIRY + timedelta(minutes=15))
    assert status(services, tenant_id) == "expired"
    assert len(services.purges.list(tenant_id)) == 2
    assert len(services.queues.purges) == 2


def test_one_tenant_failing_does_not_keep_the_others_from_expiring(tenant_id: str) -> None:
    services, store = with_failing_saves()
    other = str(uuid.uuid4())
    import_record(services, tenant_id)
    import_record(services, other)
    store.failing.add(other)
    with pytest.raises(LegacyExpiryFailed):
        legacy_of(services).expire_due(EXPIRY)
    assert status(services, tenant_id) == "expired"


def test_a_record_imported_without_an_expiry_expires_at_the_configured_default_instant(
    services: Services, tenant_id: str
) -> None:
    import_record(services, tenant_id, "who_knows_whom", expires_at=None)
    default = LEGACY_EXPIRY["who_knows_whom"]
    service = legacy_of(services)
    service.expire_due(default - SECOND)
    assert status(services, tenant_id, "who_knows_whom") == "active"
    service.expire_due(default)
    assert status(services, tenant_id, "who_knows_whom") == "expired"


def test_a_tenant_that_granted_after_the_expiry_keeps_its_features_and_gets_no_purge(
    services: Services, tenant_id: str
) -> None:
    import_record(services, tenant_id)
    services.consent.grant(tenant_id, frozenset(), Provenance("a", "g", EXPIRY, "webhook", EXPIRY))
    legacy_of(services).expire_due(EXPIRY + SECOND)
    expired = next(e for e in services.audit.of(tenant_id) if e.kind == "legacy.expired")
    assert status(services, tenant_id) == "expired"
    assert services.purges.list(tenant_id) == []
    assert expired.purge_id is None


# --- ingestion asks the same rules ------------------------------------------------------------------------


class NoGraph:
    """Scheduling a disabled tenant must not reach Graph (nor the cursors) at all."""

    def __call__(self) -> Any:
        raise AssertionError("Graph was called for a tenant with nothing enabled")


def scheduler(services: Services) -> SchedulingService:
    return memory_container(
        consent_store=services.consents, optout_store=services.optouts, purge_store=services.purges,
        graph_factory=NoGraph(),
    ).scheduling_service  # fmt: skip


def test_from_the_expiry_instant_the_ingestion_scheduler_skips_the_tenant(
    services: Services, tenant_id: str
) -> None:
    import_record(services, tenant_id)
    assert scheduler(services).schedule_tenant(tenant_id, EXPIRY).enabled is False


def test_a_window_running_across_the_expiry_is_fenced_off_from_the_expiry_instant(
    services: Services, tenant_id: str
) -> None:
    import_record(services, tenant_id)
    user = str(uuid.uuid4())
    before = services.inclusion.fence(tenant_id, user, EXPIRY - SECOND)
    at = services.inclusion.fence(tenant_id, user, EXPIRY)
    assert (before.allowed, at.allowed, at.reason) == (True, False, "no-feature-enabled")


# --- a late timer: the purges are born late, and say so ----------------------------------------------------

LATE = timedelta(days=3)


def test_a_timer_three_days_late_queues_purges_whose_deadlines_run_from_the_expiry(
    services: Services, tenant_id: str
) -> None:
    """The timer ran at EXPIRY + 3 days; the deadlines used to run from that run (live = EXPIRY + 4 days)."""
    import_record(services, tenant_id)
    legacy_of(services).expire_due(EXPIRY + LATE)
    purges = services.purges.list(tenant_id)
    assert {p.scope.kind for p in purges} == {"feature", "tenant"}
    for purge in purges:
        assert purge.requested_at == EXPIRY + LATE  # when the app asked: holds and fences run from it
        assert (purge.live_deadline, purge.backup_deadline) == (
            EXPIRY + timedelta(hours=24),
            EXPIRY + timedelta(days=30),
        )


def test_a_purge_born_after_its_live_deadline_is_flagged_and_reported_missed_then_met_late(
    services: Services, tenant_id: str
) -> None:
    import_record(services, tenant_id)
    legacy_of(services).expire_due(EXPIRY + LATE)
    purge = next(p for p in services.purges.list(tenant_id) if p.scope.kind == "feature")
    assert deadline_flags(purge, EXPIRY + LATE) == ("live-deadline-passed",)
    assert deadline_outcomes(purge, EXPIRY + LATE) == ("missed", "pending")
    done = EXPIRY + LATE + timedelta(hours=1)
    deleted = replace(purge, verified_at=done, backups_deleted_at=done)
    assert deadline_outcomes(deleted, done) == ("met-late", "met")
