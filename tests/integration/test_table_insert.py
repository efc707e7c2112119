"""Inserting a row on Azurite when the answer (or the request) is lost on the way: every adapter's inserts
go through `table_rows.insert`, so a dropped keep-alive connection neither fails a write that landed nor
mistakes another writer's row for ours."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableClient, TableServiceClient

from functions.adapters.table_rows import insert
from tests.support.lossy_transport import AnswerLost

pytestmark = pytest.mark.integration

TABLE = "lossyinserts"


def lossy_table(connection_string: str, *, delivered: bool) -> tuple[TableClient, AnswerLost]:
    transport = AnswerLost(TABLE, delivered=delivered)
    service = TableServiceClient.from_connection_string(connection_string, transport=transport)
    service.create_table_if_not_exists(TABLE)
    return service.get_table_client(TABLE), transport


def row(tenant_id: str, **values: object) -> dict[str, object]:
    return {"PartitionKey": tenant_id, "RowKey": "claim", **values}


@pytest.mark.parametrize("delivered", [True, False], ids=["answer-lost", "request-lost"])
def test_an_insert_whose_answer_or_request_was_lost_writes_the_row_once_and_returns_its_etag(
    storage_connection_string: str, tenant_id: str, delivered: bool
) -> None:
    table, transport = lossy_table(storage_connection_string, delivered=delivered)
    metadata = insert(table, row(tenant_id, holder="us", n=7))
    assert transport.lost == 1
    stored = table.get_entity(tenant_id, "claim")
    assert (stored["holder"], stored["n"]) == ("us", 7)
    assert metadata["etag"] == stored.metadata["etag"]
    assert len(list(table.query_entities("PartitionKey eq @pk", parameters={"pk": tenant_id}))) == 1


def test_a_lost_answer_over_another_writers_row_is_a_conflict_and_leaves_their_row(
    storage_connection_string: str, tenant_id: str
) -> None:
    plain = TableServiceClient.from_connection_string(storage_connection_string)
    plain.create_table_if_not_exists(TABLE)
    plain.get_table_client(TABLE).create_entity(row(tenant_id, holder="them", n=1))
    table, transport = lossy_table(storage_connection_string, delivered=True)
    with pytest.raises(ResourceExistsError):
        insert(table, row(tenant_id, holder="us", n=7))
    assert transport.lost == 1
    assert table.get_entity(tenant_id, "claim")["holder"] == "them"


def test_an_insert_over_an_existing_row_without_any_loss_is_a_conflict(
    storage_connection_string: str, tenant_id: str
) -> None:
    service = TableServiceClient.from_connection_string(storage_connection_string)
    service.create_table_if_not_exists(TABLE)
    table = service.get_table_client(TABLE)
    insert(table, row(tenant_id, holder="them"))
    with pytest.raises(ResourceExistsError):
        insert(table, row(tenant_id, holder="them"))
