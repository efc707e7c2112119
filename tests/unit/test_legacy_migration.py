"""Migration of legacy opted-out groups on the grant: exactly once, whatever order or how often the grant and
the legacy records arrive (admin-center webhooks and the bulk import, over in-memory stores)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.domain.events import parse_event
from functions.domain.legacy import LegacyRow
from functions.services.webhooks import WebhookResponse
from tests.support import admin_center as ac
from tests.support.container import Services
from tests.support.memory_stores import LEGACY_EXPIRY

T0 = datetime(2022, 6, 1, 9, 0, tzinfo=UTC)
G1, G2, G3 = (str(uuid.uuid4()) for _ in range(3))


def deliver(
    services: Services, event: dict[str, Any], at: datetime, webhook_id: str | None = None
) -> WebhookResponse:
    parsed = parse_event(event, at)
    return services.webhooks.deliver(webhook_id or f"msg_{uuid.uuid4().hex}", ac.body_of(event), parsed, at)


def legacy_event(
    tenant_id: str, at: datetime, groups: list[str], feature: str = "relationship_analytics"
) -> dict[str, Any]:
    return ac.legacy_imported(tenant_id, feature, at, granted_at=T0 - timedelta(days=400), groups=groups)


def sources(services: Services, tenant_id: str) -> dict[str, str]:
    return {g: e.source for g, e in services.optouts.load_groups(tenant_id).groups.entries.items()}


def statuses(services: Services, tenant_id: str) -> dict[str, str]:
    return {f: r.status for f, r in services.consents.load(tenant_id).consent.legacy.items()}


def migrations(services: Services, tenant_id: str) -> list[tuple[str, ...]]:
    return [e.subject_ids for e in services.audit.of(tenant_id) if e.kind == "optout.groups.migrated"]


def test_a_grant_migrates_every_legacy_group_once_and_supersedes_both_records(tenant_id: str) -> None:
    services = Services()
    deliver(services, legacy_event(tenant_id, T0, [G1]), T0)
    deliver(services, legacy_event(tenant_id, T0, [G2], "who_knows_whom"), T0)
    deliver(services, ac.granted(tenant_id, T0 + timedelta(hours=1), [G3]), T0 + timedelta(hours=1))
    assert sources(services, tenant_id) == {
        G1: "legacy-migration",
        G2: "legacy-migration",
        G3: "consent-grant",
    }
    assert statuses(services, tenant_id) == {
        "relationship_analytics": "superseded",
        "who_knows_whom": "superseded",
    }
    assert migrations(services, tenant_id) == [tuple(sorted((G1, G2)))]


def test_a_grant_redelivered_under_the_same_webhook_id_migrates_nothing_more(tenant_id: str) -> None:
    services = Services()
    deliver(services, legacy_event(tenant_id, T0, [G1]), T0)
    grant = ac.granted(tenant_id, T0 + timedelta(hours=1))
    first = deliver(services, grant, T0 + timedelta(hours=1), "msg_grant")
    again = deliver(services, grant, T0 + timedelta(hours=2), "msg_grant")
    assert (again.status, again.body) == (200, first.body)
    assert len(migrations(services, tenant_id)) == 1


def test_a_grant_redelivered_under_a_new_webhook_id_is_a_duplicate_and_migrates_nothing_more(
    tenant_id: str,
) -> None:
    services = Services()
    deliver(services, legacy_event(tenant_id, T0, [G1]), T0)
    grant = ac.granted(tenant_id, T0 + timedelta(hours=1))
    deliver(services, grant, T0 + timedelta(hours=1))
    again = deliver(services, grant, T0 + timedelta(hours=2))
    assert again.body["outcome"] == "duplicate"
    assert len(migrations(services, tenant_id)) == 1


def test_a_migrated_group_the_admin_removed_stays_removed_after_a_second_grant(tenant_id: str) -> None:
    services = Services()
    deliver(services, legacy_event(tenant_id, T0, [G1, G2]), T0)
    deliver(services, ac.granted(tenant_id, T0 + timedelta(hours=1)), T0 + timedelta(hours=1))
    deliver(services, ac.groups_replaced(tenant_id, [G2], T0 + timedelta(hours=2)), T0 + timedelta(hours=2))
    deliver(services, ac.revoked(tenant_id, T0 + timedelta(hours=3)), T0 + timedelta(hours=3))
    deliver(services, ac.granted(tenant_id, T0 + timedelta(hours=4)), T0 + timedelta(hours=4))
    assert set(sources(services, tenant_id)) == {G2}


def test_a_legacy_record_arriving_after_the_grant_is_superseded_and_migrated_at_once(tenant_id: str) -> None:
    services = Services()
    deliver(services, ac.granted(tenant_id, T0), T0)
    deliver(services, legacy_event(tenant_id, T0 + timedelta(minutes=5), [G1]), T0 + timedelta(minutes=5))
    assert sources(services, tenant_id) == {G1: "legacy-migration"}
    assert statuses(services, tenant_id) == {"relationship_analytics": "superseded"}


def test_a_late_legacy_record_redelivered_or_restated_migrates_nothing_more(tenant_id: str) -> None:
    services = Services()
    deliver(services, ac.granted(tenant_id, T0), T0)
    late = legacy_event(tenant_id, T0 + timedelta(minutes=5), [G1])
    deliver(services, late, T0 + timedelta(minutes=5))
    deliver(services, late, T0 + timedelta(minutes=6))  # the same event again
    restated = legacy_event(tenant_id, T0 + timedelta(minutes=7), [G1])  # the same record, a new event
    assert deliver(services, restated, T0 + timedelta(minutes=7)).body["outcome"] == "unchanged"
    assert migrations(services, tenant_id) == [(G1,)]
    assert statuses(services, tenant_id) == {"relationship_analytics": "superseded"}


def test_the_groups_of_a_record_that_expired_before_the_grant_are_migrated_and_it_stays_expired(
    tenant_id: str,
) -> None:
    services = Services()
    event = ac.legacy_imported(
        tenant_id, "who_knows_whom", T0, granted_at=T0 - timedelta(days=400),
        expires_at=T0 + timedelta(days=1), groups=[G1],
    )  # fmt: skip
    deliver(services, event, T0)
    legacy = services.legacy
    legacy.expire_tenant(tenant_id, T0 + timedelta(days=1))
    deliver(services, ac.granted(tenant_id, T0 + timedelta(days=2)), T0 + timedelta(days=2))
    assert sources(services, tenant_id) == {G1: "legacy-migration"}
    assert statuses(services, tenant_id) == {"who_knows_whom": "expired"}


def test_migrated_groups_that_were_already_excluded_by_the_legacy_form_start_no_purge(tenant_id: str) -> None:
    services = Services()
    deliver(services, legacy_event(tenant_id, T0, [G1]), T0)
    answer = deliver(services, ac.granted(tenant_id, T0 + timedelta(hours=1)), T0 + timedelta(hours=1))
    assert "purgeId" not in answer.body
    assert services.purges.list(tenant_id) == []


def test_a_bulk_imported_record_of_a_granted_tenant_is_superseded_on_arrival_and_migrated_once(
    tenant_id: str,
) -> None:
    services = Services()
    deliver(services, ac.granted(tenant_id, T0), T0)
    legacy = services.legacy
    expiry = LEGACY_EXPIRY["relationship_analytics"]
    row = LegacyRow(
        2, tenant_id, "relationship_analytics", T0 - timedelta(days=400), expiry, frozenset({G1}),
        explicit_expiry=False,
    )  # fmt: skip
    first = legacy.import_rows([row], T0 + timedelta(hours=1))
    again = legacy.import_rows([row], T0 + timedelta(hours=2))
    assert (first.imported, first.superseded_on_arrival, again.already_imported) == (1, 1, 1)
    imported = services.consents.load(tenant_id).consent.legacy["relationship_analytics"].imported
    assert imported.source == "import"  # the command's doing, not an API caller's
    assert sources(services, tenant_id) == {G1: "legacy-migration"}
    assert migrations(services, tenant_id) == [(G1,)]
