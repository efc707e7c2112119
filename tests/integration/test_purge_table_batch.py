"""Hand-written transactions on Azurite: everything asked is deleted, nothing else, and a key that is already
gone does not fail the rest; upserts write exactly what the SDK would, merge, and fail as a whole."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.core.exceptions import ServiceResponseError
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableClient

from functions.adapters import table_batch
from functions.adapters.storage import StorageClients
from functions.domain.errors import StorageError

pytestmark = pytest.mark.integration


@pytest.fixture
def table(storage_clients: StorageClients) -> Iterator[TableClient]:
    name = f"purgebatch{uuid.uuid4().hex[:12]}"
    client = storage_clients.table(name)
    yield client
    storage_clients.table_service.delete_table(name)


def fill(table: TableClient, partition: str, rows: int) -> None:
    table_batch.upsert_all(
        table, ({"PartitionKey": partition, "RowKey": f"{n:05d}", "n": n} for n in range(rows))
    )


def keys(table: TableClient, partition: str) -> list[tuple[str, str]]:
    return list(table_batch.query_keys(table, "PartitionKey eq @pk", {"pk": partition}))


def test_deleting_the_keys_of_several_partitions_removes_exactly_those(table: TableClient) -> None:
    fill(table, "a", 250)
    fill(table, "b", 130)
    fill(table, "keep", 20)
    deleted = table_batch.delete_keys(table, keys(table, "a") + keys(table, "b"))
    assert deleted == 380
    assert (keys(table, "a"), keys(table, "b"), len(keys(table, "keep"))) == ([], [], 20)


def test_keys_already_deleted_are_skipped_and_the_rest_still_deleted(table: TableClient) -> None:
    fill(table, "a", 150)
    listed = keys(table, "a")
    table.delete_entity("a", "00007")
    table.delete_entity("a", "00120")
    assert table_batch.delete_keys(table, listed) == 148
    assert keys(table, "a") == []


def test_deleting_twice_is_harmless(table: TableClient) -> None:
    fill(table, "a", 30)
    listed = keys(table, "a")
    assert table_batch.delete_keys(table, listed) == 30
    assert table_batch.delete_keys(table, listed) == 0


def test_keys_with_quotes_and_escapable_characters_are_deleted(table: TableClient) -> None:
    odd = ["o'brien", "a b+c", "100%", "é-ü"]
    table_batch.upsert_all(table, ({"PartitionKey": "p'1", "RowKey": key} for key in odd))
    assert table_batch.delete_keys(table, keys(table, "p'1")) == len(odd)
    assert keys(table, "p'1") == []


def test_deleting_partitions_and_counting_by_filter_agree(table: TableClient) -> None:
    for partition in ("t1_u1", "t1_u2", "t2_u1"):
        fill(table, partition, 40)
    start, end = table_batch.prefix_range("t1_")
    query = "PartitionKey ge @start and PartitionKey lt @end"
    assert table_batch.count_matching(table, query, {"start": start, "end": end}) == 80
    assert table_batch.delete_partitions(table, ["t1_u1", "t1_u2"]) == 80
    assert table_batch.count_matching(table, query, {"start": start, "end": end}) == 0
    assert table_batch.delete_matching(table, "PartitionKey eq @pk", {"pk": "t2_u1"}) == 40


class DropsFirstAnswer(RequestsTransport):
    """A transport that sends the first changeset, then loses the connection before the answer (what a stale
    keep-alive connection does): the service wrote the rows, the client saw `ServiceResponseError`."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped = 0

    def send(self, request: Any, **kwargs: Any) -> Any:
        response = super().send(request, **kwargs)
        if request.method == "POST" and "$batch" in request.url and not self.dropped:
            self.dropped += 1
            raise ServiceResponseError("Connection aborted: remote end closed connection without response")
        return response


def test_an_upsert_changeset_whose_answer_is_lost_is_sent_again_and_writes_each_row_once(
    storage_connection_string: str,
) -> None:
    name = f"upsertdrop{uuid.uuid4().hex[:12]}"
    transport = DropsFirstAnswer()
    flaky = TableClient.from_connection_string(storage_connection_string, name, transport=transport)
    flaky.create_table()
    try:
        written = table_batch.upsert_all(
            flaky, ({"PartitionKey": "p", "RowKey": f"{n:03d}"} for n in range(150))
        )
        assert (written, transport.dropped) == (150, 1)
        assert len(keys(flaky, "p")) == 150
    finally:
        flaky.delete_table()


def test_upserted_values_read_back_with_the_types_the_sdk_gives_them(table: TableClient) -> None:
    at = datetime(2026, 3, 4, 5, 6, 7, 123000, tzinfo=UTC)
    row = {
        "PartitionKey": "o'brien é", "RowKey": "a b+c%d", "text": "naïve \"quoted\" \n line",
        "small": 7, "big": (2**40, "Edm.Int64"), "ratio": 0.5, "whole": 3.0, "flag": True, "at": at,
    }  # fmt: skip
    assert table_batch.upsert_all(table, [row]) == 1
    stored = table.get_entity("o'brien é", "a b+c%d")
    assert {k: stored[k] for k in row if k not in ("big", "at")} == {
        k: v for k, v in row.items() if k not in ("big", "at")
    }
    assert (stored["big"].value, stored["at"]) == (2**40, at)


def test_an_upsert_merges_into_the_row_it_finds(table: TableClient) -> None:
    table_batch.upsert_all(table, [{"PartitionKey": "p", "RowKey": "r", "a": 1, "b": "old"}])
    table_batch.upsert_all(table, [{"PartitionKey": "p", "RowKey": "r", "b": "new"}])
    stored = table.get_entity("p", "r")
    assert (stored["a"], stored["b"]) == (1, "new")


def test_an_upsert_the_service_refuses_is_a_storage_error_and_its_changeset_writes_nothing(
    table: TableClient,
) -> None:
    rows = [{"PartitionKey": "p", "RowKey": f"{n:02d}", "n": n} for n in range(5)]
    rows.append({"PartitionKey": "p", "RowKey": "bad", "n": "x" * 40_000})  # over the 64 KiB property limit
    with pytest.raises(StorageError):
        table_batch.upsert_all(table, rows)
    assert keys(table, "p") == []
