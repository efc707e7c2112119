"""The purge under faults on Azurite: the storage emulator restarting mid-purge, a withdrawal while a
backfill is running, and group members resolved through the Graph simulator."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from devhost.azurite import Azurite
from functions.adapters.graph import GraphAdapter
from functions.adapters.graph_auth import StaticTokenCredential
from functions.adapters.storage import StorageClients
from functions.domain.purge import GroupScope
from functions.domain.scope import Scope
from functions.services.ingestion import GraphReader
from functions.services.membership import GroupMembers
from functions.services.purge import LEASE, PurgeIncomplete, PurgeRun
from functions.settings import Settings
from graphsim.generate import TenantSpec
from graphsim.server import GraphSimulator
from graphsim.tenant import Tenant
from tests.conftest import base_env
from tests.support.ingestion_rig import Rig
from tests.support.purge_data import ZERO, Seeder, tenant_traces
from tests.support.purge_rig import PurgeRig

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SPEC = TenantSpec(
    seed=11, users=4, external_contacts=20, messages_per_user_per_month=6, meetings_per_user_per_month=1
)


def uid() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def own_azurite(tmp_path: Path) -> Iterator[Azurite]:
    """An Azurite of this test alone, persisted to disk so that it can be restarted."""
    with Azurite(location=tmp_path / "azurite") as instance:
        yield instance


@pytest.fixture
def sim() -> Iterator[GraphSimulator]:
    with GraphSimulator(Tenant(SPEC)) as running:
        yield running


def test_azurite_restarting_in_the_middle_of_a_purge_is_survived(own_azurite: Azurite) -> None:
    storage = StorageClients(Settings.from_env(base_env(own_azurite.connection_string)).storage)
    tenant, other = uid(), uid()
    seeder = Seeder(storage)
    seeder.user(tenant, uid(), 20)
    seeder.user(other, uid(), 20)
    other_before = tenant_traces(storage, other)
    restarts: list[str] = []

    def restart(step: str) -> None:
        if step == "live-deleted" and not restarts:
            restarts.append(step)
            own_azurite.restart()

    rig = PurgeRig(storage, T0, after_step=restart)
    record = rig.to_completion(rig.request(Scope("tenant", tenant)))
    assert restarts == ["live-deleted"]
    assert (record.status, record.verification) == ("completed", ZERO)
    assert tenant_traces(storage, other) == other_before
    assert rig.story(tenant, record.id)[-1] == ("purge.completed", "verified-zero")


def test_a_purge_whose_storage_vanished_mid_step_finishes_once_it_is_back(own_azurite: Azurite) -> None:
    storage = StorageClients(Settings.from_env(base_env(own_azurite.connection_string)).storage)
    tenant, other = uid(), uid()
    seeder = Seeder(storage)
    seeder.user(tenant, uid(), 20)
    seeder.user(other, uid(), 20)
    other_before = tenant_traces(storage, other)

    def outage(step: str) -> None:
        if step == "live-deleted":
            own_azurite.stop()

    rig = PurgeRig(storage, T0, after_step=outage)
    record = rig.request(Scope("tenant", tenant))
    with pytest.raises(Exception, match="storage"):
        rig.run(record)  # the next write fails: the host will retry this message
    own_azurite.start()
    rig.steps.hook = None
    rig.clock.advance(LEASE)  # the failed delivery could not give its lease back; it expires
    done = rig.to_completion(record)
    assert (done.status, done.verification) == ("completed", ZERO)
    assert tenant_traces(storage, other) == other_before


class RevokeMidWindow:
    """A Graph reader that withdraws the consent once the backfill window has read its first page (the
    window is still reading and about to write)."""

    def __init__(self, inner: GraphReader, interrupt: Any) -> None:
        self._inner, self._interrupt = inner, interrupt

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def _pages(self, pages: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for page in pages:
            yield page
            self._interrupt()

    def messages(self, *args: Any) -> AsyncIterator[Any]:
        return self._pages(self._inner.messages(*args))


def test_a_withdrawal_during_a_running_backfill_leaves_nothing_behind(
    storage_clients: StorageClients, sim: GraphSimulator, tenant_id: str
) -> None:
    other = uid()
    Seeder(storage_clients).user(other, uid(), 6)
    other_before = tenant_traces(storage_clients, other)
    holder: list[Rig] = []
    purge = PurgeRig(storage_clients, SPEC.now)
    revoked = threading.Event()
    first_pass: list[PurgeRun] = []

    def purge_worker() -> None:
        """The purge function, running on another instance while the backfill goes on."""
        record = next(p for p in holder[0].purge_store.list(tenant_id) if p.reason == "consent-revoked")
        for _ in range(20):  # the host's retries: verification may find rows the window is writing
            try:
                first_pass.append(purge.run(record))
                return
            except PurgeIncomplete:
                time.sleep(0.05)

    worker = threading.Thread(target=purge_worker)

    def revoke() -> None:
        if not revoked.is_set():
            revoked.set()
            holder[0].revoke()
            worker.start()

    rig = Rig(
        storage_clients, sim, tenant_id, now=SPEC.now, flush_interactions=1, page_size=3,
        wrap_graph=lambda graph: RevokeMidWindow(graph, revoke),
    )  # fmt: skip
    holder.append(rig)
    rig.grant()
    statuses = rig.drain(rig.schedule()[:3])  # the first window is mid-way when consent is withdrawn
    worker.join(30)
    assert statuses[0] == "revoked"
    assert [run.record.status for run in first_pass if run.record] == ["verified"]
    record = next(p for p in rig.purge_store.list(tenant_id) if p.reason == "consent-revoked")
    done = purge.to_completion(record)  # the sweep, once no window that started before can still write
    assert (done.status, done.verification) == ("completed", ZERO)
    assert purge.traces(Scope("tenant", tenant_id)) == ZERO
    assert tenant_traces(storage_clients, other) == other_before


def test_a_write_that_lands_after_the_first_verification_is_removed_by_the_sweep(
    storage_clients: StorageClients, tenant_id: str
) -> None:
    user = uid()
    seeder = Seeder(storage_clients)
    seeder.user(tenant_id, user, 5)
    rig = PurgeRig(storage_clients, T0)
    record = rig.request(Scope("tenant", tenant_id))
    rig.run(record)
    assert rig.stored(record).status == "verified"
    seeder.user(tenant_id, user, 5)  # an ingestion that passed its last check before the withdrawal
    assert rig.traces(Scope("tenant", tenant_id))["slices"] == 5
    done = rig.to_completion(record)
    assert (done.status, done.verification) == ("completed", ZERO)
    swept = next(s for s in done.steps if s.name == "swept")
    assert swept.counts["slices"] == 5


def test_group_members_are_resolved_through_graph_including_nested_groups(sim: GraphSimulator) -> None:
    tenant = sim.tenant
    groups = [g for g in tenant.groups if tenant.transitive_user_ids(g.id)]
    expected = {u.lower() for g in groups[:2] for u in tenant.transitive_user_ids(g.id)}
    resolver = GroupMembers(
        lambda: GraphAdapter(sim.graph_url, lambda _tenant: StaticTokenCredential(sim.token))
    )
    assert resolver.members(tenant.tenant_id, frozenset(g.id for g in groups[:2])) == expected
    assert resolver.members(tenant.tenant_id, frozenset({uid()})) == frozenset()  # a deleted group


def test_a_group_purge_resolved_through_graph_removes_its_members_data(
    storage_clients: StorageClients, sim: GraphSimulator
) -> None:
    tenant = sim.tenant
    group = min(
        (g for g in tenant.groups if tenant.transitive_user_ids(g.id)),
        key=lambda g: len(tenant.transitive_user_ids(g.id)),
    )
    members = set(tenant.transitive_user_ids(group.id))
    outsider = next(u.id for u in tenant.users() if u.id not in members)
    seeder = Seeder(storage_clients)
    for user in [*members, outsider]:
        seeder.user(tenant.tenant_id, user, 3)
    outsider_before = tenant_traces(storage_clients, tenant.tenant_id, outsider)
    graph = GraphAdapter(sim.graph_url, lambda _tenant: StaticTokenCredential(sim.token))
    rig = PurgeRig(storage_clients, T0, members=GroupMembers(lambda: graph))
    done = rig.to_completion(
        rig.request(GroupScope(tenant.tenant_id, frozenset({group.id})), "group-opt-out")
    )
    assert set(done.members or ()) == {m.lower() for m in members}
    for member in members:
        assert tenant_traces(storage_clients, tenant.tenant_id, member) == ZERO
    assert tenant_traces(storage_clients, tenant.tenant_id, outsider) == outsider_before
