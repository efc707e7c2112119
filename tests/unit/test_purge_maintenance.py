"""The maintenance timer's purge step: poison messages back to work, stalled purges re-queued, deadlines
flagged; and the maintenance service's list of steps."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from functions.adapters.purge_queue import PurgeMessage
from functions.domain.events import Provenance
from functions.domain.purge import PurgeRecord, new_purge
from functions.domain.scope import Scope
from functions.services.maintenance import MaintenanceFailed, MaintenanceService
from tests.support.container import PurgeWorld

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def requested(world: PurgeWorld, at: datetime = T0) -> PurgeRecord:
    provenance = Provenance("admin", f"evt-{uuid.uuid4()}", at, "webhook", at)
    return world.ledger.put(new_purge(Scope("tenant", str(uuid.uuid4())), "consent-revoked", provenance))


def body(record: PurgeRecord) -> str:
    return json.dumps({"tenantId": record.tenant_id, "purgeId": record.id})


def sent(world: PurgeWorld) -> list[PurgeMessage]:
    return world.queue.sent


@pytest.fixture
def world() -> PurgeWorld:
    return PurgeWorld(T0)


def test_a_poison_message_of_an_unfinished_purge_goes_back_on_the_queue(world: PurgeWorld) -> None:
    record = requested(world)
    world.queue.poison.append(body(record))
    counts = world.maintenance.run(T0 + timedelta(minutes=1))
    assert sent(world) == [PurgeMessage(record.tenant_id, record.id)]
    assert (world.queue.poison, counts["fromPoison"]) == ([], 1)


def test_a_poison_message_of_a_completed_purge_is_dropped(world: PurgeWorld) -> None:
    record = world.ledger.put(replace(requested(world), status="completed"))
    world.queue.poison.append(body(record))
    world.maintenance.run(T0 + timedelta(minutes=1))
    assert (sent(world), world.queue.poison) == ([], [])


def test_an_unreadable_poison_message_stays_for_a_person_to_look_at(world: PurgeWorld) -> None:
    world.queue.poison.append("not json")
    world.maintenance.run(T0)
    assert world.queue.poison == ["not json"]


def test_a_purge_that_has_not_moved_for_ten_minutes_is_re_queued(world: PurgeWorld) -> None:
    record = requested(world)
    world.maintenance.run(T0 + timedelta(minutes=9))
    assert sent(world) == []
    world.maintenance.run(T0 + timedelta(minutes=10))
    assert sent(world) == [PurgeMessage(record.tenant_id, record.id)]


def test_a_purge_re_queued_from_poison_is_not_queued_twice(world: PurgeWorld) -> None:
    record = requested(world)
    world.queue.poison.append(body(record))
    world.maintenance.run(T0 + timedelta(hours=1))
    assert sent(world) == [PurgeMessage(record.tenant_id, record.id)]


def test_a_purge_a_delivery_is_working_on_is_left_alone(world: PurgeWorld) -> None:
    record = requested(world)
    world.ledger.put(replace(record, lease_owner="worker", lease_until=T0 + timedelta(hours=2)))
    world.maintenance.run(T0 + timedelta(hours=1))
    assert sent(world) == []


def test_a_purge_waiting_for_its_sweep_is_re_queued_once_the_sweep_is_due(world: PurgeWorld) -> None:
    record = world.ledger.put(
        replace(requested(world), status="verified", fence_at=T0 + timedelta(minutes=12))
    )
    world.maintenance.run(T0 + timedelta(minutes=11))
    assert sent(world) == []
    world.maintenance.run(T0 + timedelta(minutes=12))
    assert sent(world) == [PurgeMessage(record.tenant_id, record.id)]


def test_a_completed_purge_is_not_re_queued(world: PurgeWorld) -> None:
    world.ledger.put(replace(requested(world), status="completed"))
    world.maintenance.run(T0 + timedelta(days=2))
    assert sent(world) == []


def test_a_purge_past_its_live_deadline_is_flagged_on_the_record_and_in_the_log(
    world: PurgeWorld, caplog: pytest.LogCaptureFixture
) -> None:
    record = requested(world)
    with caplog.at_level(logging.WARNING, logger="functions.services.maintenance"):
        counts = world.maintenance.run(T0 + timedelta(hours=25))
    flagged = world.ledger.get(record.tenant_id, record.id)
    assert flagged is not None
    assert flagged.deadline_flags == ("live-deadline-passed",)
    assert counts["flagged"] == 1
    assert any(
        "live-deadline-passed" in r.getMessage() and record.id in r.getMessage() for r in caplog.records
    )


def test_a_purge_near_its_live_deadline_is_flagged_near(world: PurgeWorld) -> None:
    record = requested(world)
    world.maintenance.run(T0 + timedelta(hours=21))
    flagged = world.ledger.get(record.tenant_id, record.id)
    assert flagged is not None
    assert flagged.deadline_flags == ("live-deadline-near",)


def test_every_maintenance_step_runs_even_when_an_earlier_one_fails() -> None:
    ran: list[str] = []

    def broken(now: datetime) -> Mapping[str, int]:
        ran.append("broken")
        raise RuntimeError("storage is down")

    def fine(now: datetime) -> Mapping[str, int]:
        ran.append("fine")
        return {"done": 1}

    service = MaintenanceService([("broken", broken), ("fine", fine)])
    with pytest.raises(MaintenanceFailed, match="broken"):
        service.run(T0)
    assert ran == ["broken", "fine"]


def test_maintenance_returns_each_steps_counts() -> None:
    service = MaintenanceService([("a", lambda now: {"day": now.day}), ("b", lambda now: {"hour": now.hour})])
    assert service.run(T0) == {"a": {"day": 27}, "b": {"hour": 9}}
