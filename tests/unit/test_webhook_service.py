"""Idempotent webhook delivery: one effect per webhook-id, whatever the sender repeats or races."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.domain.errors import Conflict, StorageError
from functions.domain.events import parse_event
from tests.support import admin_center as ac
from tests.support.container import Services

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
TENANT = str(uuid.uuid4())
USER = str(uuid.uuid4())


def deliver(services: Services, webhook_id: str, document: dict[str, Any], now: datetime = NOW) -> Any:
    body = json.dumps(document).encode()
    return services.webhooks.deliver(webhook_id, body, parse_event(document, now), now)


def test_a_new_webhook_is_accepted_with_202_and_its_outcome() -> None:
    services = Services()
    response = deliver(services, "msg_1", ac.user_changed(TENANT, USER, NOW))
    assert response.status == 202
    assert response.body["outcome"] == "applied"
    assert response.body["purgeId"]


def test_a_repeated_webhook_id_gets_the_same_body_with_200_and_no_second_effect() -> None:
    services = Services()
    document = ac.user_changed(TENANT, USER, NOW)
    first = deliver(services, "msg_1", document)
    again = deliver(services, "msg_1", document, NOW + timedelta(minutes=1))
    assert (again.status, again.body) == (200, first.body)
    assert len(services.purges.list(TENANT)) == 1
    assert len(services.queues.purges) == 1


def test_a_webhook_id_reused_for_another_body_is_refused_without_effect() -> None:
    services = Services()
    deliver(services, "msg_1", ac.user_changed(TENANT, USER, NOW))
    with pytest.raises(Conflict):
        deliver(services, "msg_1", ac.revoked(TENANT, NOW))
    assert services.consents.load(TENANT).consent.state == "none"


def test_a_delivery_while_the_first_is_in_flight_is_asked_to_retry() -> None:
    services = Services()
    document = ac.revoked(TENANT, NOW)
    services.receipts.claim("msg_1", _sha(document), NOW)
    with pytest.raises(Conflict):
        deliver(services, "msg_1", document, NOW + timedelta(seconds=5))
    assert services.consents.load(TENANT).consent.state == "none"


def test_a_claim_abandoned_past_its_lease_is_taken_over_and_processed() -> None:
    services = Services()
    document = ac.revoked(TENANT, NOW)
    services.receipts.claim("msg_1", _sha(document), NOW)
    response = deliver(services, "msg_1", document, NOW + timedelta(minutes=3))
    assert response.status == 202
    assert services.consents.load(TENANT).consent.state == "revoked"


def test_a_failed_delivery_releases_its_claim_so_the_retry_applies_it() -> None:
    services = Services()
    document = ac.revoked(TENANT, NOW)

    def broken(tenant_id: str, purge_id: str) -> None:
        raise StorageError("queue down")

    working = services.queues.enqueue_purge
    services.queues.enqueue_purge = broken  # type: ignore[method-assign]
    with pytest.raises(StorageError):
        deliver(services, "msg_1", document)
    services.queues.enqueue_purge = working  # type: ignore[method-assign]

    response = deliver(services, "msg_1", document)
    assert (response.status, response.body["outcome"]) == (202, "duplicate")
    assert len(services.purges.list(TENANT)) == 1
    assert services.purges.list(TENANT)[0].id == response.body["purgeId"]


def test_a_stale_event_is_accepted_audited_and_ignored() -> None:
    services = Services()
    deliver(services, "msg_1", ac.revoked(TENANT, NOW))
    response = deliver(services, "msg_2", ac.granted(TENANT, NOW - timedelta(minutes=1)))
    assert (response.status, response.body["outcome"]) == (202, "stale")
    assert services.consents.load(TENANT).consent.state == "revoked"
    assert [e.outcome for e in services.audit.of(TENANT) if e.kind == "consent.granted"] == ["stale"]


def test_every_webhook_received_is_audited_with_its_id_type_and_outcome() -> None:
    services = Services()
    deliver(services, "msg_1", ac.granted(TENANT, NOW))
    entry = next(e for e in services.audit.of(TENANT) if e.kind == "webhook.received")
    assert (entry.webhook_id, entry.event_type, entry.outcome) == ("msg_1", "consent.granted", "applied")


def _sha(document: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(document).encode()).hexdigest()
