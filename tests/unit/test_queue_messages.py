"""A queue message its function cannot read goes to `<queue>-poison` at once, as it came, with the reason
logged: never dropped, never retried `maxDequeueCount` times for nothing (the functions called as the host
calls them, over the in-memory container)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest
from azure.functions.queue import QueueMessage

from functions.bootstrap import Container, install
from functions.entrypoints.ingestion import ingestion_worker, membership_worker
from functions.entrypoints.purge_worker import purge_worker
from tests.support.container import memory_container


@pytest.fixture
def app() -> Iterator[Container]:
    c = memory_container()
    install(c)
    yield c
    install(None)


def message(body: str) -> QueueMessage:
    return QueueMessage(id=str(uuid.uuid4()), body=body.encode(), dequeue_count=1)


@pytest.mark.parametrize(
    ("function", "queue", "body"),
    [
        (purge_worker, "purges", "not json"),
        (purge_worker, "purges", '{"tenantId": "t"}'),
        (ingestion_worker, "ingest", '{"type": "unknown"}'),
        (ingestion_worker, "ingest", '{"type": "window", "tenantId": "t"}'),
        (ingestion_worker, "ingest", "[" * 5000),
        (membership_worker, "membership", '{"type": "groups.resolve"}'),
    ],
    ids=["purge-not-json", "purge-without-purge-id", "ingest-unknown-type", "window-without-fields",
         "ingest-nested-5000-deep", "membership-without-tenant"],
)  # fmt: skip
def test_an_unreadable_message_goes_to_the_poison_queue_as_it_came(
    app: Container, function: object, queue: str, body: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        function(message(body))  # type: ignore[operator]
    assert app.work_queues.poisoned == [(queue, body)]  # type: ignore[attr-defined]
    assert f"moved to {queue}-poison" in caplog.text


def test_a_readable_message_is_not_poisoned(app: Container) -> None:
    purge_worker(message(f'{{"tenantId": "{uuid.uuid4()}", "purgeId": "{uuid.uuid4()}"}}'))
    assert app.work_queues.poisoned == []  # type: ignore[attr-defined]
