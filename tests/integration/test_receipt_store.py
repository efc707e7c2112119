"""Webhook receipts on Azurite: exactly one claim per webhook-id, even when deliveries race."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from functions.adapters.receipt_store import TableReceiptStore
from functions.adapters.storage import StorageClients
from functions.domain.errors import ConcurrencyConflict

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(storage_clients: StorageClients) -> TableReceiptStore:
    return TableReceiptStore(storage_clients)


def webhook_id() -> str:
    return f"msg_{uuid.uuid4().hex}/with#odd?chars\\"  # characters a table key may not hold


def test_the_first_claim_wins_and_a_second_sees_it(store: TableReceiptStore) -> None:
    msg = webhook_id()
    claimed, mine = store.claim(msg, "sha-1", NOW)
    again, theirs = store.claim(msg, "sha-1", NOW)
    assert (claimed, again) == (True, False)
    assert (theirs.state, theirs.body_sha256, theirs.webhook_id) == ("pending", "sha-1", msg)
    assert mine.etag


def test_of_twenty_racing_claims_exactly_one_wins(store: TableReceiptStore) -> None:
    msg = webhook_id()
    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(lambda _: store.claim(msg, "sha-1", NOW)[0], range(20)))
    assert outcomes.count(True) == 1


def test_a_completed_receipt_keeps_the_response(store: TableReceiptStore) -> None:
    msg = webhook_id()
    _, receipt = store.claim(msg, "sha-1", NOW)
    store.complete(receipt, 202, '{"outcome":"applied"}')
    stored = store.get(msg)
    assert stored is not None
    assert (stored.state, stored.status, stored.body) == ("done", 202, '{"outcome":"applied"}')


def test_a_released_claim_can_be_claimed_again(store: TableReceiptStore) -> None:
    msg = webhook_id()
    _, receipt = store.claim(msg, "sha-1", NOW)
    store.release(receipt)
    assert store.claim(msg, "sha-1", NOW)[0]


def test_only_one_of_two_takers_of_an_abandoned_claim_wins(store: TableReceiptStore) -> None:
    msg = webhook_id()
    store.claim(msg, "sha-1", NOW)
    _, seen = store.claim(msg, "sha-1", NOW + timedelta(minutes=5))
    store.take_over(seen, NOW + timedelta(minutes=5))
    with pytest.raises(ConcurrencyConflict):
        store.take_over(seen, NOW + timedelta(minutes=5))
