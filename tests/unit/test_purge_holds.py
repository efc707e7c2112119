"""While a purge is unfinished it holds its scope: nothing is collected for it, even if the scope is included
again meanwhile; when it completes, a scope included again has its ingestion queued at once."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from functions.domain.events import Provenance
from functions.domain.purge import GroupScope, PurgeRecord, new_purge, purge_hold
from functions.domain.scope import Scope
from functions.services.consent import api_provenance
from tests.support.container import Services

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
TENANT = str(uuid.uuid4())
ALICE, BOB = str(uuid.uuid4()), str(uuid.uuid4())


def purge(scope: Scope | GroupScope, *, status: str = "queued") -> PurgeRecord:
    provenance = Provenance("admin", f"evt-{uuid.uuid4()}", T0, "webhook", T0)
    return replace(new_purge(scope, "consent-revoked", provenance), status=status)


def test_an_unfinished_tenant_purge_holds_the_tenant_and_every_user() -> None:
    records = [purge(Scope("tenant", TENANT), status="verified")]
    assert purge_hold(records).tenant
    assert purge_hold(records).covers(ALICE)


def test_a_completed_purge_holds_nothing() -> None:
    records = [
        purge(Scope("tenant", TENANT), status="completed"),
        purge(Scope("user", TENANT, user_id=ALICE), status="completed"),
    ]
    assert not purge_hold(records).tenant
    assert not purge_hold(records).covers(ALICE)


def test_a_user_purge_holds_that_user_only_whatever_the_case_of_the_id() -> None:
    records = [purge(Scope("user", TENANT, user_id=ALICE.upper()))]
    assert purge_hold(records).covers(ALICE)
    assert not purge_hold(records).covers(BOB)
    assert not purge_hold(records).tenant


def test_a_group_purge_holds_its_resolved_members_only() -> None:
    unresolved = purge(GroupScope(TENANT, frozenset({str(uuid.uuid4())})))
    assert not purge_hold([unresolved]).covers(BOB)  # its members are excluded by their group meanwhile
    resolved = replace(unresolved, members=(ALICE,))
    assert purge_hold([resolved]).covers(ALICE)
    assert not purge_hold([resolved]).covers(BOB)


def test_a_feature_purge_holds_no_ingestion() -> None:
    assert not purge_hold([purge(Scope("feature", TENANT, feature="who_knows_whom"))]).covers(ALICE)


@given(st.lists(st.sampled_from(["queued", "live-deleted", "backups-deleted", "verified", "completed"])))
def test_only_unfinished_purges_of_the_user_or_their_tenant_hold_them(statuses: list[str]) -> None:
    records = [purge(Scope("user", TENANT, user_id=ALICE), status=s) for s in statuses]
    assert purge_hold(records).covers(ALICE) == any(s != "completed" for s in statuses)
    assert not purge_hold(records).covers(BOB)


# --- what is left to a group purge (who needs no purge of their own) ----------------------------------------


def test_a_group_purge_still_to_resolve_covers_members_not_seen_included_since_it_was_requested() -> None:
    group = str(uuid.uuid4())
    hold = purge_hold([purge(GroupScope(TENANT, frozenset({group})))])  # requested at T0
    assert hold.covers_member(ALICE, {group}, T0 - timedelta(days=1))
    assert hold.covers_member(ALICE, {group}, None)  # no profile says otherwise
    assert not hold.covers_member(ALICE, {group}, T0 + timedelta(minutes=1))  # joined since: their own
    assert not hold.covers_member(ALICE, {str(uuid.uuid4())}, T0 - timedelta(days=1))  # another group
    assert not hold.covers(ALICE)  # and it holds nobody until it knows its members


def test_a_group_purge_that_resolved_its_members_covers_them_only() -> None:
    group = str(uuid.uuid4())
    resolved = replace(purge(GroupScope(TENANT, frozenset({group}))), members=(ALICE,))
    assert purge_hold([resolved]).covers_member(ALICE, {group}, T0 - timedelta(days=1))
    assert not purge_hold([resolved]).covers_member(BOB, {group}, T0 - timedelta(days=1))


def test_a_completed_group_purge_covers_no_member() -> None:
    group = str(uuid.uuid4())
    done = replace(purge(GroupScope(TENANT, frozenset({group})), status="completed"), members=(ALICE,))
    assert not purge_hold([done]).covers_member(ALICE, {group}, None)


def test_a_members_own_unfinished_purge_or_their_tenants_covers_them() -> None:
    own = purge(Scope("user", TENANT, user_id=ALICE))
    assert purge_hold([own]).covers_member(ALICE, {str(uuid.uuid4())}, T0)
    assert purge_hold([purge(Scope("tenant", TENANT))]).covers_member(BOB, {str(uuid.uuid4())}, T0)


# --- when a purge completes ---------------------------------------------------------------------------------


def resume(services: Services, record: PurgeRecord) -> bool:
    return services.container.purge_completed(record, T0)


def test_a_tenant_granted_again_gets_its_ingestion_queued_when_the_withdrawal_purge_completes() -> None:
    services = Services()
    services.consent.grant(TENANT, frozenset(), api_provenance(None, T0))
    services.queues.consume()  # the grant's own request
    assert resume(services, purge(Scope("tenant", TENANT), status="completed"))
    assert services.queues.ingest == [{"type": "tenant.schedule", "tenantId": TENANT}]


def test_a_tenant_still_withdrawn_gets_nothing_queued() -> None:
    services = Services()
    services.consent.grant(TENANT, frozenset(), api_provenance(None, T0))
    services.consent.revoke(TENANT, api_provenance(None, T0))
    services.queues.consume()
    assert not resume(services, purge(Scope("tenant", TENANT), status="completed"))
    assert services.queues.ingest == []


def completed(services: Services, purge_id: str | None) -> PurgeRecord:
    """Mark a stored purge completed, as the purge function does before calling its completion hook."""
    assert purge_id is not None
    key = (TENANT, purge_id)
    services.purges.put(replace(services.purges.records[key], status="completed"))
    return services.purges.records[key]


def test_a_user_still_opted_out_gets_nothing_queued_and_one_who_opted_back_in_does() -> None:
    services = Services()
    services.consent.grant(TENANT, frozenset(), api_provenance(None, T0))
    services.queues.consume()
    purge_ids = {
        user: services.optout.set_user(
            TENANT, user, opted_out=True, provenance=api_provenance(None, T0)
        ).purge_id
        for user in (ALICE, BOB)
    }
    services.optout.set_user(TENANT, BOB, opted_out=False, provenance=api_provenance(None, T0))
    assert not resume(services, completed(services, purge_ids[ALICE]))
    assert resume(services, completed(services, purge_ids[BOB]))
    assert services.queues.ingest == [{"type": "tenant.schedule", "tenantId": TENANT}]


def test_a_user_whose_purge_completes_while_another_of_theirs_is_unfinished_stays_held() -> None:
    services = Services()
    services.consent.grant(TENANT, frozenset(), api_provenance(None, T0))
    services.queues.consume()
    services.purges.create(purge(Scope("user", TENANT, user_id=ALICE)))  # e.g. a group membership purge
    assert not resume(services, purge(Scope("user", TENANT, user_id=ALICE), status="completed"))
    assert services.queues.ingest == []


def test_a_user_now_in_an_opted_out_group_or_a_group_purge_gets_nothing_queued() -> None:
    services = Services()
    services.consent.grant(TENANT, frozenset(), api_provenance(None, T0))
    services.queues.consume()
    services.exclude_by_group(TENANT, [ALICE], T0)
    assert not resume(services, purge(Scope("user", TENANT, user_id=ALICE), status="completed"))
    assert not resume(services, purge(GroupScope(TENANT, frozenset({str(uuid.uuid4())})), status="completed"))
    assert services.queues.ingest == []


def test_a_completed_group_purge_asks_for_its_groups_to_be_resolved_again() -> None:
    """So that a member its own Graph read missed, and whom the last resolution left to it, is purged now."""
    services = Services()
    services.consent.grant(TENANT, frozenset(), api_provenance(None, T0))
    services.queues.consume()
    assert not resume(services, purge(GroupScope(TENANT, frozenset({str(uuid.uuid4())})), status="completed"))
    assert services.queues.membership == [{"type": "groups.resolve", "tenantId": TENANT}]
    assert services.queues.ingest == []
