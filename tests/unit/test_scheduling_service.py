"""Scheduling runs over in-memory ports and a fake Graph (tests/support/container.py `IngestionWorld`): which
cursors and `ingest` window messages a run creates, for whom, and when it queues nothing. The same
behaviours run against Azurite and the Graph simulator in tests/integration/test_ingestion.py."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from functions.domain.errors import GraphThrottled
from functions.domain.ingestion import INCREMENTAL, backfill_name
from functions.services.ingestion import WindowRequest
from tests.support.container import IngestionWorld
from tests.support.memory_ingestion import GraphFailure, message

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
YEAR = timedelta(days=365)
BACKFILL = [backfill_name(i) for i in range(12)]


@pytest.fixture
def world() -> IngestionWorld:
    return IngestionWorld(T0, users=3)


def windows_of(world: IngestionWorld, user: str) -> dict[str, tuple[datetime, datetime | None, str]]:
    return {c.window: (c.start, c.end, c.status) for c in world.cursors.user(world.tenant_id, user)}


def queued(requests: list[WindowRequest]) -> set[tuple[str, str]]:
    return {(r.user_id, r.window) for r in requests}


def test_a_first_run_gives_each_included_user_twelve_queued_windows_covering_the_last_year(
    world: IngestionWorld,
) -> None:
    world.grant()
    world.schedule()
    for user in world.users:
        cursors = world.cursors.user(world.tenant_id, user)
        assert sorted(c.window for c in cursors) == BACKFILL
        ordered = sorted(cursors, key=lambda c: c.window)
        assert (ordered[0].start, ordered[-1].end) == (T0 - YEAR, T0)
        assert all(a.end == b.start for a, b in itertools.pairwise(ordered))
        assert {(c.status, c.updated_at) for c in cursors} == {("queued", T0)}


def test_each_window_is_requested_as_one_window_message_on_the_ingest_queue(world: IngestionWorld) -> None:
    user = world.users[0]
    world.grant()
    world.scheduler.schedule_tenant(world.tenant_id, T0)
    messages = world.queues.windows
    assert len(messages) == 12 * 3
    first = next(m for m in messages if m["userId"] == user and m["window"] == "backfill-00")
    assert first == {
        "type": "window", "tenantId": world.tenant_id, "userId": user, "window": "backfill-00",
        "start": (T0 - YEAR).isoformat(), "end": (T0 - YEAR + YEAR / 12).isoformat(),
    }  # fmt: skip
    cursors = {(c.user_id, c.window) for c in world.cursors.tenant(world.tenant_id).cursors}
    assert {(m["userId"], m["window"]) for m in messages} == cursors


def test_a_run_takes_the_pending_schedule_request_so_a_later_one_is_queued_again(
    world: IngestionWorld,
) -> None:
    world.grant()  # asks for a run (coalesced until a run takes it)
    assert world.queues.ingest == [{"type": "tenant.schedule", "tenantId": world.tenant_id}]
    world.schedule()
    assert world.queues.request_ingestion(world.tenant_id, T0) is True
    assert len(world.queues.ingest) == 2


def test_a_tenant_without_consent_schedules_nothing_and_reads_nothing(world: IngestionWorld) -> None:
    result = world.scheduler.schedule_tenant(world.tenant_id, T0)
    assert (result.enabled, result.windows_queued) == (False, 0)
    assert world.queues.windows == []
    assert world.cursors.tenant(world.tenant_id).cursors == []
    assert world.cursors.profiles(world.tenant_id) == {}
    assert world.graph.calls == []


def test_a_tenant_that_withdrew_schedules_nothing(world: IngestionWorld) -> None:
    world.grant()
    world.revoke()
    assert world.schedule() == []
    assert world.graph.calls == []


def test_a_tenant_granted_again_while_its_purge_is_unfinished_is_held(world: IngestionWorld) -> None:
    world.grant()
    world.revoke()
    world.grant()
    result = world.scheduler.schedule_tenant(world.tenant_id, T0)
    assert (result.tenant_held, result.windows_queued) == (True, 0)
    assert world.cursors.tenant(world.tenant_id).cursors == []
    assert world.graph.calls == []


def test_an_opted_out_user_gets_no_cursor_no_window_and_no_profile(world: IngestionWorld) -> None:
    out, *others = world.users
    world.grant()
    world.opt_out(out)
    requests = world.schedule()
    assert {r.user_id for r in requests} == set(others)
    assert world.cursors.user(world.tenant_id, out) == []
    assert set(world.cursors.profiles(world.tenant_id)) == set(others)


def test_members_of_an_opted_out_group_are_resolved_by_the_run_and_not_scheduled(
    world: IngestionWorld,
) -> None:
    member, *others = world.users
    group = world.group([member])
    world.grant()
    world.opt_out_groups(group)  # not resolved yet: the run resolves it itself
    requests = world.schedule()
    assert f"members:{group}" in world.graph.calls
    assert {r.user_id for r in requests} == set(others)
    assert world.cursors.user(world.tenant_id, member) == []


def test_the_run_counts_who_was_included_and_excluded_in_its_result_and_audit(world: IngestionWorld) -> None:
    world.grant()
    world.opt_out(world.users[0])
    result = world.scheduler.schedule_tenant(world.tenant_id, T0)
    counts = {"users": 3, "included": 2, "excluded": 1, "windowsQueued": 24, "purgesRequested": 0}
    assert result.counts() == counts | {"heldForPurge": 0}
    entry = world.audit.of(world.tenant_id)[0]
    assert (entry.kind, entry.outcome, dict(entry.counts)) == (
        "ingestion.scheduled",
        "queued",
        counts | {"heldForPurge": 0},
    )


def test_a_user_without_a_mailbox_is_named_but_not_queued() -> None:
    world = IngestionWorld(T0, users=2, without_mailbox=[1])
    world.grant()
    requests = world.schedule()
    assert {r.user_id for r in requests} == {world.users[0]}
    assert set(world.cursors.profiles(world.tenant_id)) == set(world.users)


def test_a_second_run_queues_nothing_while_the_backfill_waits(world: IngestionWorld) -> None:
    world.grant()
    world.schedule()
    world.clock.advance(timedelta(hours=1))
    assert world.schedule() == []


def test_once_the_backfill_landed_each_run_queues_one_incremental_window_per_user(
    world: IngestionWorld,
) -> None:
    world.grant()
    assert set(world.drain(world.schedule())) == {"succeeded"}
    world.clock.advance(timedelta(hours=1))
    requests = world.schedule()
    assert queued(requests) == {(u, INCREMENTAL) for u in world.users}
    assert {(r.start, r.end) for r in requests} == {(T0, None)}


def test_failed_windows_are_queued_again_by_the_next_run(world: IngestionWorld) -> None:
    failing, *others = world.users
    world.grant()
    world.deliver(failing, message(failing, "buyer@fabrikam.example", ["user0@contoso.com"], T0 - YEAR / 2))
    world.graph.failures[failing] = GraphFailure(GraphThrottled("429", status=429))
    for request in world.schedule():
        try:
            world.worker.run(request)
        except GraphThrottled:
            assert request.user_id == failing
    del world.graph.failures[failing]
    world.clock.advance(timedelta(hours=1))
    requests = world.schedule()
    assert queued(requests) == {(failing, w) for w in BACKFILL} | {(u, INCREMENTAL) for u in others}
    again = world.cursors.get(world.tenant_id, failing, "backfill-05")
    assert again is not None
    assert (again.status, again.attempts, again.error) == ("queued", 1, "GraphThrottled (Graph 429)")
    assert set(world.drain([r for r in requests if r.user_id == failing])) == {"succeeded"}
