"""Toggling one's own opt-out is cheap: the purge of an unfinished opt-out is reused, requests coalesce."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from functions.services.consent import api_provenance
from tests.support.container import Services

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
TENANT = str(uuid.uuid4())
ALICE = str(uuid.uuid4())


def granted() -> Services:
    services = Services()
    services.consent.grant(TENANT, frozenset(), api_provenance(None, T0))
    services.queues.consume()
    return services


def toggle(services: Services, *, out: bool, at: datetime = T0) -> str | None:
    provenance = api_provenance(ALICE, at)
    return services.optout.set_user(TENANT, ALICE, opted_out=out, provenance=provenance).purge_id


def test_a_hundred_toggles_while_the_purge_is_unfinished_make_one_purge_and_one_message() -> None:
    services = granted()
    purge_ids = {toggle(services, out=i % 2 == 0, at=T0 + timedelta(seconds=i)) for i in range(100)}
    assert len(services.purges.list(TENANT)) == 1
    assert len(services.queues.purges) == 1
    assert purge_ids - {None} == {services.purges.list(TENANT)[0].id}


def test_a_hundred_toggles_audit_each_change_and_one_purge_request() -> None:
    services = granted()
    for i in range(100):
        toggle(services, out=i % 2 == 0, at=T0 + timedelta(seconds=i))
    kinds = [e.kind for e in services.audit.of(TENANT) if e.kind != "consent.granted"]
    assert kinds.count("optout.user.changed") == 100
    assert kinds.count("purge.requested") == 1
    assert len(kinds) == 101


def test_opting_out_again_after_the_purge_completed_starts_a_new_purge() -> None:
    services = granted()
    first = toggle(services, out=True)
    assert first is not None
    key = (TENANT, first)
    services.purges.put(replace(services.purges.records[key], status="completed"))
    toggle(services, out=False, at=T0 + timedelta(minutes=1))
    second = toggle(services, out=True, at=T0 + timedelta(minutes=2))
    assert second not in (None, first)
    assert len(services.queues.purges) == 2


def test_the_reused_purge_is_the_one_the_user_row_points_at() -> None:
    services = granted()
    first = toggle(services, out=True)
    toggle(services, out=False, at=T0 + timedelta(seconds=1))
    toggle(services, out=True, at=T0 + timedelta(seconds=2))
    user = services.optouts.load_user(TENANT, ALICE).user
    assert user is not None
    assert user.purge_id == first
