"""Scheduling and the ingestion worker against the Graph simulator and Azurite."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest

from functions.adapters.backup_store import BlobBackupStore
from functions.domain.errors import FeatureNotEnabled, GraphMalformedResponse, NotFound
from functions.domain.ingestion import INCREMENTAL
from functions.domain.purge import PurgeRecord
from functions.domain.scope import Scope
from functions.services.consent import api_provenance
from functions.services.ingestion import GraphReader, WindowRequest
from graphsim.model import Address
from graphsim.server import GraphSimulator
from graphsim.tenant import Tenant
from tests.integration.conftest import SMALL_TENANT
from tests.support.ingestion_rig import Rig
from tests.support.purge_rig import PurgeRig

pytestmark = pytest.mark.integration

SPEC = SMALL_TENANT
NOW = SPEC.now


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[GraphSimulator]:
    with GraphSimulator(Tenant(SPEC)) as running:
        yield running


@pytest.fixture(scope="module")
def done(storage_clients: Any, shared_sim: GraphSimulator) -> Rig:
    """A tenant ingested once for the tests that only read (or put back what they change)."""
    return ingested(Rig(storage_clients, shared_sim, str(uuid.uuid4()), now=NOW))


def rig_for(storage_clients: Any, sim: GraphSimulator, tenant_id: str, **options: Any) -> Rig:
    return Rig(storage_clients, sim, tenant_id, now=NOW, **options)


@pytest.fixture
def rig(storage_clients: Any, sim: GraphSimulator, tenant_id: str) -> Rig:
    return rig_for(storage_clients, sim, tenant_id)


def ingested(rig: Rig) -> Rig:
    rig.grant()
    rig.schedule()
    assert set(rig.drain()) == {"succeeded"}
    return rig


def slice_rows(rig: Rig, user_id: str) -> int:
    return rig.slices.count_scope(Scope("user", rig.tenant_id, user_id=user_id))


def small_group(rig: Rig) -> Any:
    """A group with members that leaves most users out of it."""
    groups = [g for g in rig.sim.tenant.groups if rig.sim.tenant.transitive_user_ids(g.id)]
    return min(groups, key=lambda g: len(rig.sim.tenant.transitive_user_ids(g.id)))


def top_contact(rig: Rig) -> str:
    return rig.sim.tenant.contacts[0].address


# --- scheduling ---------------------------------------------------------------------------------------------


def test_nothing_is_scheduled_without_consent(rig: Rig) -> None:
    assert rig.schedule() == []


def test_a_user_never_ingested_gets_twelve_monthly_windows(rig: Rig) -> None:
    rig.grant()
    requests = rig.schedule()
    users = rig.mailbox_users()
    assert len(requests) == 12 * len(users)
    first = sorted((r for r in requests if r.user_id == users[0]), key=lambda r: r.window)
    assert first[0].start == NOW - timedelta(days=365)
    assert first[-1].end == NOW
    assert all(a.end == b.start for a, b in itertools.pairwise(first))


def test_a_scheduled_user_is_not_queued_twice_while_their_windows_wait(rig: Rig) -> None:
    rig.grant()
    rig.schedule()
    assert rig.schedule() == []


def test_after_the_backfill_each_run_queues_one_incremental_window_per_user(rig: Rig) -> None:
    ingested(rig)
    requests = rig.schedule()
    assert sorted(r.user_id for r in requests) == sorted(rig.mailbox_users())
    assert {r.window for r in requests} == {"incremental"}


def test_opted_out_users_and_members_of_opted_out_groups_are_not_scheduled(rig: Rig) -> None:
    users = rig.mailbox_users()
    group = small_group(rig)
    members = set(rig.sim.tenant.transitive_user_ids(group.id))
    rig.grant()
    rig.opt_out(users[0])
    rig.opt_out_groups(group.id)
    scheduled = {r.user_id for r in rig.schedule()}
    assert users[0] not in scheduled
    assert not scheduled & members
    assert scheduled


def test_a_user_added_to_an_opted_out_group_is_excluded_and_purged(rig: Rig) -> None:
    ingested(rig)
    group = small_group(rig)
    outsider = next(u for u in rig.mailbox_users() if u not in rig.sim.tenant.transitive_user_ids(group.id))
    rig.opt_out_groups(group.id)  # its members are the group purge's: no purge per member
    rig.now = NOW + timedelta(hours=1)
    assert outsider in {r.user_id for r in rig.schedule()}
    rig.sim.tenant.add_to_group(group.id, outsider)
    rig.now = NOW + timedelta(hours=2)
    requests = rig.schedule()
    assert outsider not in {r.user_id for r in requests}
    purges = [p for p in rig.purge_store.list(rig.tenant_id) if p.reason == "group-membership"]
    assert [p.scope for p in purges] == [Scope("user", rig.tenant_id, user_id=outsider)]


def test_with_retain_a_newly_excluded_member_is_not_purged(
    storage_clients: Any, sim: GraphSimulator, tenant_id: str
) -> None:
    rig = ingested(rig_for(storage_clients, sim, tenant_id, group_policy="retain"))
    group = small_group(rig)
    outsider = next(u for u in rig.mailbox_users() if u not in rig.sim.tenant.transitive_user_ids(group.id))
    rig.opt_out_groups(group.id)
    rig.sim.tenant.add_to_group(group.id, outsider)
    assert outsider not in {r.user_id for r in rig.schedule()}
    assert [p for p in rig.purge_store.list(rig.tenant_id) if p.reason == "group-membership"] == []


def test_nothing_from_the_directory_is_kept_of_an_opted_out_user_after_their_purge(
    storage_clients: Any, rig: Rig
) -> None:
    ingested(rig)
    user = rig.mailbox_users()[0]
    rig.opt_out(user)
    purge = PurgeRig(storage_clients, rig.now)
    assert purge.to_completion(purge_of(rig, "user-opt-out")).finished
    rig.now = NOW + timedelta(days=1)
    rig.schedule()  # the next daily run lists the user in the directory again
    assert set(purge.traces(Scope("user", rig.tenant_id, user_id=user)).values()) == {0}
    assert user.lower() not in rig.cursors.profiles(rig.tenant_id)


def test_members_of_an_opted_out_group_keep_no_profile_and_are_fenced_from_the_opt_out_store(
    rig: Rig,
) -> None:
    ingested(rig)
    group = small_group(rig)
    members = {m.lower() for m in rig.sim.tenant.transitive_user_ids(group.id)}
    assert members <= set(rig.cursors.profiles(rig.tenant_id))  # included until now: named
    rig.opt_out_groups(group.id)
    rig.now = NOW + timedelta(hours=1)
    rig.schedule()
    assert not members & set(rig.cursors.profiles(rig.tenant_id))
    assert set(rig.optouts.membership(rig.tenant_id).members) == members
    member = next(m for m in rig.mailbox_users() if m.lower() in members)
    window = WindowRequest(rig.tenant_id, member, INCREMENTAL, rig.now - timedelta(days=1), None)
    assert rig.worker.run(window) == "skipped"


def test_a_group_opt_out_withdrawn_lets_its_members_be_named_and_read_again(rig: Rig) -> None:
    ingested(rig)
    group = small_group(rig)
    members = {m.lower() for m in rig.sim.tenant.transitive_user_ids(group.id)}
    rig.opt_out_groups(group.id)
    rig.schedule()
    rig.opt_out_groups()
    rig.now = NOW + timedelta(hours=1)
    scheduled = {r.user_id.lower() for r in rig.schedule()}
    assert dict(rig.optouts.membership(rig.tenant_id).members) == {}
    assert members <= set(rig.cursors.profiles(rig.tenant_id))
    assert members & {u.lower() for u in rig.mailbox_users()} <= scheduled


def purge_of(rig: Rig, reason: str) -> PurgeRecord:
    (record,) = [p for p in rig.purge_store.list(rig.tenant_id) if p.reason == reason]
    return record


def resuming_purges(storage_clients: Any, rig: Rig) -> PurgeRig:
    """The purge function as bootstrap wires it: on completion, ingestion of a scope included again."""
    return PurgeRig(storage_clients, rig.now, on_completed=rig.container.purge_completed)


def test_a_tenant_granted_again_while_its_purge_runs_is_collected_only_once_the_purge_completes(
    storage_clients: Any, rig: Rig
) -> None:
    ingested(rig)
    users = rig.mailbox_users()
    rig.revoke()
    record = purge_of(rig, "consent-revoked")
    rig.grant()
    rig.now = NOW + timedelta(minutes=1)
    assert rig.schedule() == []  # held: no profile, no cursor, no window the sweep would delete
    window = WindowRequest(rig.tenant_id, users[0], INCREMENTAL, rig.now - timedelta(days=1), None)
    assert rig.worker.run(window) == "skipped"
    rig.queues.sent.clear()
    purges = resuming_purges(storage_clients, rig)
    assert purges.to_completion(record).finished
    assert rig.queues.sent == [{"queue": "ingest", "type": "tenant.schedule", "tenantId": rig.tenant_id}]
    rig.now = NOW + timedelta(hours=1)
    assert len(rig.schedule()) == 12 * len(users)  # the purge took the cursors: a full backfill again
    assert set(rig.drain()) == {"succeeded"}
    assert all(slice_rows(rig, u) for u in users)


def test_a_user_who_opts_back_in_while_their_purge_runs_is_read_and_backed_up_only_after_it(
    storage_clients: Any, rig: Rig
) -> None:
    ingested(rig)
    user = rig.mailbox_users()[0]
    rig.opt_out(user)
    rig.opt_in(user)
    rig.now = NOW + timedelta(hours=1)
    scheduled = {r.user_id for r in rig.schedule()}
    assert user not in scheduled
    assert scheduled  # the others are not held
    backups = BlobBackupStore(storage_clients)
    backup = rig.with_parts(backup_store=backups).backup_service
    backup.back_up_tenant(rig.tenant_id, rig.now)
    assert backups.names(f"{rig.tenant_id}/{user}/") == []
    rig.queues.sent.clear()
    assert resuming_purges(storage_clients, rig).to_completion(purge_of(rig, "user-opt-out")).finished
    assert {"queue": "ingest", "type": "tenant.schedule", "tenantId": rig.tenant_id} in rig.queues.sent
    rig.now = NOW + timedelta(hours=2)
    assert user in {r.user_id for r in rig.schedule()}


# --- the worker ---------------------------------------------------------------------------------------------


def test_a_backfill_stores_each_users_interactions_and_counts_every_message(done: Rig) -> None:
    rig = done
    user = rig.mailbox_users()[0]
    cursors = rig.cursors.user(rig.tenant_id, user)
    expected = sum(1 for _ in rig.sim.tenant.mail_copies(user, NOW - timedelta(days=365), NOW))
    assert sum(c.counts["messages"] for c in cursors) == expected
    assert {c.status for c in cursors} == {"succeeded"}
    assert slice_rows(rig, user) > 0


def test_reprocessing_a_window_never_double_counts(done: Rig) -> None:
    rig = done
    before = rig.insights.relationship(rig.tenant_id, top_contact(rig), NOW)
    user = rig.mailbox_users()[0]
    rows = slice_rows(rig, user)
    window = rig.cursors.user(rig.tenant_id, user)[3]
    request = WindowRequest(rig.tenant_id, window.user_id, window.window, window.start, window.end)
    assert rig.worker.run(request) == "succeeded"
    assert slice_rows(rig, user) == rows
    assert rig.insights.relationship(rig.tenant_id, top_contact(rig), NOW) == before


def test_a_storm_of_429s_and_503s_still_ends_complete(
    storage_clients: Any, sim: GraphSimulator, tenant_id: str, rig: Rig
) -> None:
    clean = rig_for(storage_clients, sim, str(uuid.uuid4()))
    clean.grant()
    user = rig.mailbox_users()[0]
    assert set(clean.drain([r for r in clean.schedule() if r.user_id == user])) == {"succeeded"}
    rig.grant()
    mine = [r for r in rig.schedule() if r.user_id == user]
    sim.stats.reset()
    sim.faults.update(throttle_next=2, unavailable_next=2, retry_after=1, mailbox=user)
    assert set(rig.drain(mine)) == {"succeeded"}
    assert {429, 503} <= {r.status for r in sim.stats.records()}
    assert slice_rows(rig, user) == slice_rows(clean, user) > 0


def test_a_user_who_disappears_is_skipped_not_retried(rig: Rig) -> None:
    rig.grant()
    requests = rig.schedule()
    gone = requests[0].user_id
    rig.sim.tenant.delete_user(gone)
    statuses = dict(zip([(r.user_id, r.window) for r in requests], rig.drain(requests), strict=True))
    assert {s for (u, _), s in statuses.items() if u == gone} == {"skipped"}
    assert {s for (u, _), s in statuses.items() if u != gone} == {"succeeded"}


def test_a_malformed_page_fails_the_window_loudly_until_it_lands(rig: Rig) -> None:
    rig.grant()
    requests = rig.schedule()
    broken = requests[0].user_id
    rig.sim.faults.update(malformed_users=[broken])
    with pytest.raises(GraphMalformedResponse):
        rig.worker.run(requests[0])
    assert rig.cursors.get(rig.tenant_id, broken, requests[0].window).status == "failed"
    rig.drain([r for r in requests if r.user_id != broken])
    assert rig.insights.relationship(rig.tenant_id, top_contact(rig), NOW).kpis.accuracy == "partial"
    rig.sim.faults.clear()
    assert rig.worker.run(requests[0]) == "succeeded"
    assert rig.insights.relationship(rig.tenant_id, top_contact(rig), NOW).kpis.accuracy == "complete"


def revoke(rig: Rig) -> None:
    rig.revoke()


class RevokingGraph:
    """A Graph reader that withdraws the consent at a chosen moment of a window (not of the scheduling run,
    which reads the directory through a reader of its own)."""

    def __init__(self, inner: GraphReader, revoke: Any, moment: str) -> None:
        self._inner, self._revoke, self._moment = inner, revoke, moment
        self._read_mail = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def _first_page_then_revoke(self, pages: AsyncIterator[Any]) -> AsyncIterator[Any]:
        first = True
        async for page in pages:
            yield page
            if first and self._moment == "reading":
                self._revoke()
            first = False

    def messages(self, *args: Any) -> AsyncIterator[Any]:
        self._read_mail = True
        return self._first_page_then_revoke(self._inner.messages(*args))

    async def aclose(self) -> None:
        if self._moment == "after-writing" and self._read_mail:
            self._revoke()
        await self._inner.aclose()


@pytest.mark.parametrize("moment", ["reading", "after-writing"])
def test_consent_withdrawn_mid_window_leaves_no_writes(
    storage_clients: Any, sim: GraphSimulator, tenant_id: str, moment: str
) -> None:
    holder: list[Rig] = []
    rig = rig_for(
        storage_clients, sim, tenant_id, flush_interactions=1, page_size=5,
        wrap_graph=lambda graph: RevokingGraph(graph, lambda: revoke(holder[0]), moment),
    )  # fmt: skip
    holder.append(rig)
    rig.grant()
    request = max(rig.schedule(), key=lambda r: r.window)
    assert rig.worker.run(request) == "revoked"
    tenant = Scope("tenant", tenant_id)
    assert rig.slices.count_scope(tenant) == 0
    assert rig.contacts.count_scope(tenant) == 0
    # The withdrawal makes the window's cursor the purge's to delete too: it is not written back.
    assert rig.cursors.get(tenant_id, request.user_id, request.window) is None


def test_a_planned_meeting_is_the_next_interaction_until_it_is_cancelled(rig: Rig) -> None:
    user = next(u for u in rig.sim.tenant.users() if u.mail)
    contact = rig.sim.tenant.contacts[0]
    organizer, guest = Address(user.display_name, user.mail or ""), Address(contact.name, contact.address)
    planned = rig.sim.tenant.add_meeting(organizer, (guest,), NOW + timedelta(days=3))
    ingested(rig)
    upcoming = rig.insights.relationship(rig.tenant_id, contact.address, NOW).kpis.next_interaction
    assert upcoming is not None
    assert (upcoming.at, upcoming.direction) == (planned.start, "sent")

    rig.sim.tenant.cancel_meeting(planned.ical_uid)
    rig.now = NOW + timedelta(hours=1)
    assert set(rig.drain(rig.schedule())) == {"succeeded"}
    after = rig.insights.relationship(rig.tenant_id, contact.address, rig.now).kpis
    assert after.next_interaction is None
    assert rig.slices.meetings_after(rig.tenant_id, user.id, rig.now) == [], "the withdrawn plan is deleted"


def test_a_planned_meeting_counts_in_no_kpi_before_it_happens(rig: Rig) -> None:
    user = next(u for u in rig.sim.tenant.users() if u.mail)
    contact = rig.sim.tenant.contacts[0]
    ingested(rig)
    before = rig.insights.relationship(rig.tenant_id, contact.address, NOW).kpis
    organizer, guest = Address(user.display_name, user.mail or ""), Address(contact.name, contact.address)
    rig.sim.tenant.add_meeting(organizer, (guest,), NOW + timedelta(days=3))
    rig.now = NOW + timedelta(hours=1)
    assert set(rig.drain(rig.schedule())) == {"succeeded"}
    after = rig.insights.relationship(rig.tenant_id, contact.address, rig.now).kpis
    assert after.next_interaction is not None
    assert (after.meetings_sent, after.meetings_received) == (before.meetings_sent, before.meetings_received)


def test_an_incremental_run_picks_up_new_mail(rig: Rig) -> None:
    ingested(rig)
    contact = rig.sim.tenant.contacts[0]
    user = next(u for u in rig.sim.tenant.users() if u.mail)
    before = rig.insights.relationship(rig.tenant_id, contact.address, NOW).kpis.emails_received
    rig.sim.tenant.add_mail(Address(contact.name, contact.address), (user.address,))
    rig.now = NOW + timedelta(hours=1)
    assert set(rig.drain(rig.schedule())) == {"succeeded"}
    after = rig.insights.relationship(rig.tenant_id, contact.address, rig.now).kpis.emails_received
    assert after == before + 1


# --- insights over what was ingested ------------------------------------------------------------------------


def test_an_opted_out_user_is_never_shown_as_a_colleague(done: Rig) -> None:
    rig = done
    contact = top_contact(rig)
    colleagues = rig.insights.who_knows_whom(rig.tenant_id, contact, NOW).colleagues
    assert colleagues
    rig.opt_out(colleagues[0].user_id)
    try:
        shown = {c.user_id for c in rig.insights.who_knows_whom(rig.tenant_id, contact, NOW).colleagues}
    finally:
        provenance = api_provenance(None, NOW)
        rig.optout.set_user(
            rig.tenant_id,
            colleagues[0].user_id,
            opted_out=False,
            provenance=provenance,
        )
    assert colleagues[0].user_id not in shown


def test_an_unknown_contact_is_not_found(done: Rig) -> None:
    with pytest.raises(NotFound):
        done.insights.relationship(done.tenant_id, "nobody@nowhere.example", NOW)


def test_a_tenant_without_consent_has_no_insights(rig: Rig) -> None:
    with pytest.raises(FeatureNotEnabled):
        rig.insights.relationship(rig.tenant_id, top_contact(rig), NOW)
    with pytest.raises(FeatureNotEnabled):
        rig.insights.who_knows_whom(rig.tenant_id, top_contact(rig), NOW)


# --- backups ------------------------------------------------------------------------------------------------


def test_the_daily_backup_writes_one_blob_per_included_user_and_skips_the_excluded(
    storage_clients: Any, sim: GraphSimulator, tenant_id: str
) -> None:
    rig = ingested(rig_for(storage_clients, sim, tenant_id))
    backups = BlobBackupStore(storage_clients)
    service = rig.with_parts(backup_store=backups).backup_service
    users = sorted(rig.mailbox_users())
    rig.opt_out(users[0])
    (result,) = service.back_up_all(NOW)
    assert backups.names(f"{tenant_id}/") == [
        f"{tenant_id}/{u}/{NOW.date().isoformat()}.jsonl" for u in users[1:]
    ]
    assert result.records == sum(slice_rows(rig, u) for u in users[1:])
    assert len(backups.read(tenant_id, users[1], NOW.date())) == slice_rows(rig, users[1])
