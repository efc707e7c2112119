"""A group opt-out takes effect at once: its members are resolved right away (not at the next daily run), the
tenant fails closed until they are, and nothing of them is read, shown or kept (Azurite + Graph simulator)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from functions.domain.errors import MembershipPending
from functions.domain.ingestion import INCREMENTAL
from functions.domain.scope import Scope
from functions.services.ingestion import GraphReader, WindowRequest
from graphsim.server import GraphSimulator
from tests.integration.conftest import SMALL_TENANT
from tests.support.ingestion_rig import Rig
from tests.support.purge_rig import PurgeRig

pytestmark = pytest.mark.integration

SPEC = SMALL_TENANT
NOW = SPEC.now


def ingested(storage_clients: Any, sim: GraphSimulator, tenant_id: str, **options: Any) -> Rig:
    rig = Rig(storage_clients, sim, tenant_id, now=NOW, **options)
    rig.grant()
    rig.schedule()
    assert set(rig.drain()) == {"succeeded"}
    return rig


def known_contact_and_members(rig: Rig) -> tuple[str, Any, set[str]]:
    """A contact whom both a member of some group and a non-member know, that group, and its members."""
    tenant = rig.sim.tenant
    for group in sorted(tenant.groups, key=lambda g: len(tenant.transitive_user_ids(g.id))):
        members = {m.lower() for m in tenant.transitive_user_ids(group.id)}
        if not members:
            continue
        for contact in tenant.contacts:
            colleagues = colleagues_of(rig, contact.address)
            if colleagues & members and colleagues - members:
                return contact.address, group, members
    raise AssertionError("the synthetic tenant has no contact known inside and outside one group")


def colleagues_of(rig: Rig, contact: str) -> set[str]:
    answer = rig.insights.who_knows_whom(rig.tenant_id, contact, rig.now)
    return {c.user_id for c in answer.colleagues}


def sent(rig: Rig, queue: str) -> list[dict[str, Any]]:
    return [m for m in rig.queues.sent if m["queue"] == queue]


def test_a_group_opt_out_asks_for_its_members_to_be_resolved_at_once(
    storage_clients: Any, sim: GraphSimulator, tenant_id: str
) -> None:
    rig = ingested(storage_clients, sim, tenant_id, group_policy="retain")
    rig.queues.sent.clear()
    rig.opt_out_groups(str(uuid.uuid4()))
    assert sent(rig, "membership") == [
        {"queue": "membership", "type": "groups.resolve", "tenantId": tenant_id}
    ]


def test_until_the_members_are_resolved_the_insights_hide_everyone_and_say_partial(
    storage_clients: Any, sim: GraphSimulator, tenant_id: str
) -> None:
    rig = ingested(storage_clients, sim, tenant_id, group_policy="retain")
    contact, group, _ = known_contact_and_members(rig)
    rig.opt_out_groups(group.id)
    who = rig.insights.who_knows_whom(tenant_id, contact, rig.now)
    relationship = rig.insights.relationship(tenant_id, contact, rig.now)
    assert (who.colleagues, who.accuracy) == ((), "partial")
    assert relationship.kpis.accuracy == "partial"
    assert relationship.kpis.emails_sent + relationship.kpis.emails_received == 0


def test_once_resolved_the_members_are_gone_from_both_insights_and_the_others_are_back(
    storage_clients: Any, sim: GraphSimulator, tenant_id: str
) -> None:
    rig = ingested(storage_clients, sim, tenant_id, group_policy="retain")
    contact, group, members = known_contact_and_members(rig)
    before = colleagues_of(rig, contact)
    rig.opt_out_groups(group.id)
    rig.resolve_membership()
    who = rig.insights.who_knows_whom(tenant_id, contact, rig.now)
    assert who.accuracy == "complete"
    shown = {c.user_id for c in who.colleagues}
    assert not shown & members
    assert shown >= (before - members)
    assert rig.insights.relationship(tenant_id, contact, rig.now).kpis.accuracy == "complete"


def test_the_kpis_count_none_of_the_members_interactions(
    storage_clients: Any, sim: GraphSimulator, tenant_id: str
) -> None:
    rig = ingested(storage_clients, sim, tenant_id, group_policy="retain")
    contact, group, members = known_contact_and_members(rig)
    rig.opt_out_groups(group.id)
    rig.resolve_membership()
    after = rig.insights.relationship(tenant_id, contact, rig.now)
    for member in members:  # the same KPIs as if the members had opted out themselves
        rig.opt_out(member)
    rig.opt_out_groups()
    rig.resolve_membership()
    assert rig.insights.relationship(tenant_id, contact, rig.now) == after


def test_a_window_that_would_start_before_the_resolution_reads_nothing_and_is_retried(
    storage_clients: Any, sim: GraphSimulator, tenant_id: str
) -> None:
    rig = ingested(storage_clients, sim, tenant_id, group_policy="retain")
    _, group, members = known_contact_and_members(rig)
    outsider = next(u for u in rig.mailbox_users() if u.lower() not in members)
    cursor_before = rig.cursors.get(tenant_id, outsider, INCREMENTAL)
    rig.opt_out_groups(group.id)
    rig.queues.sent.clear()
    rig.queues.pending.clear()  # as if the change's own request had been lost
    window = WindowRequest(tenant_id, outsider, INCREMENTAL, NOW - timedelta(days=1), None)
    with pytest.raises(MembershipPending):
        rig.worker.run(window)
    assert rig.cursors.get(tenant_id, outsider, INCREMENTAL) == cursor_before
    assert len(sent(rig, "membership")) == 1  # the worker asked for the resolution itself
    rig.resolve_membership()
    assert rig.worker.run(window) == "succeeded"
    member = next(u for u in rig.mailbox_users() if u.lower() in members)
    assert rig.worker.run(WindowRequest(tenant_id, member, INCREMENTAL, NOW, None)) == "skipped"


class GroupChangingGraph:
    """A Graph reader that opts a group out after the first page of a window."""

    def __init__(self, inner: GraphReader, change: Any) -> None:
        self._inner, self._change = inner, change

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def _change_after_first(self, pages: AsyncIterator[Any]) -> AsyncIterator[Any]:
        first = True
        async for page in pages:
            yield page
            if first:
                self._change()
            first = False

    def messages(self, *args: Any) -> AsyncIterator[Any]:
        return self._change_after_first(self._inner.messages(*args))


def test_a_window_running_when_a_group_is_opted_out_takes_its_writes_back_and_runs_again_later(
    storage_clients: Any, sim: GraphSimulator, tenant_id: str
) -> None:
    holder: list[Rig] = []
    group_id = str(uuid.uuid4())  # nobody is in it: the window is stopped only by not knowing that yet
    rig = Rig(
        storage_clients, sim, tenant_id, now=NOW, flush_interactions=1, page_size=5, group_policy="retain",
        wrap_graph=lambda graph: GroupChangingGraph(graph, lambda: holder[0].opt_out_groups(group_id)),
    )  # fmt: skip
    holder.append(rig)
    rig.grant()
    request = max(rig.schedule(), key=lambda r: r.window)
    assert rig.worker.run(request) == "revoked"
    assert rig.slices.count_scope(Scope("user", tenant_id, user_id=request.user_id)) == 0
    cursor = rig.cursors.get(tenant_id, request.user_id, request.window)
    assert cursor is not None
    assert cursor.status == "revoked"  # kept, so that it is queued again
    rig.queues.sent.clear()
    rig.resolve_membership()
    assert sent(rig, "ingest") == [{"queue": "ingest", "type": "tenant.schedule", "tenantId": tenant_id}]
    assert request.window in {r.window for r in rig.schedule() if r.user_id == request.user_id}


def test_under_purge_the_members_data_is_gone_once_the_group_purge_completes_and_stays_gone(
    storage_clients: Any, sim: GraphSimulator, tenant_id: str
) -> None:
    rig = ingested(storage_clients, sim, tenant_id, group_policy="purge")
    _, group, members = known_contact_and_members(rig)
    rig.opt_out_groups(group.id)
    rig.resolve_membership()
    (record,) = [p for p in rig.purge_store.list(tenant_id) if p.reason == "group-opt-out"]
    purges = PurgeRig(storage_clients, rig.now)
    purges.members.groups[tenant_id, group.id] = members  # what Graph answers the purge
    assert purges.to_completion(record).finished
    rig.now = NOW + timedelta(hours=1)
    scheduled = {r.user_id.lower() for r in rig.schedule()}
    assert scheduled
    assert not scheduled & members
    rig.drain()
    for member in members:
        traces = purges.traces(Scope("user", tenant_id, user_id=member))
        assert set(traces.values()) == {0}, (member, traces)


def test_a_member_of_an_old_group_found_by_a_later_groups_resolution_is_purged(
    storage_clients: Any, sim: GraphSimulator, tenant_id: str
) -> None:
    """Whichever run finds a user newly inside a group opted out before they were last seen included (the
    daily scheduling or the resolution after another group change), their data is purged."""
    rig = ingested(storage_clients, sim, tenant_id, group_policy="purge")
    _, group, members = known_contact_and_members(rig)
    rig.opt_out_groups(group.id)
    rig.resolve_membership()
    rig.now = NOW + timedelta(hours=1)
    rig.schedule()  # the others are seen included now
    joiner = next(u for u in rig.mailbox_users() if u.lower() not in members)
    rig.sim.tenant.add_to_group(group.id, joiner)
    rig.now = NOW + timedelta(hours=2)
    rig.opt_out_groups(group.id, str(uuid.uuid4()))  # another change: its resolution finds the joiner
    rig.resolve_membership()
    joined = [p for p in rig.purge_store.list(tenant_id) if p.reason == "group-membership"]
    assert [p.scope for p in joined] == [Scope("user", tenant_id, user_id=joiner.lower())]
    assert joiner.lower() not in rig.cursors.profiles(tenant_id)
