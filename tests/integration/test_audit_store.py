"""The audit log on Azurite: append-only, per tenant, newest first, paged with an opaque token."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import TableServiceClient

from functions.adapters.audit_store import TableAuditLog
from functions.adapters.storage import StorageClients
from functions.domain.audit import AuditEntry
from functions.domain.errors import ValidationFailed
from functions.settings import Settings
from tests.conftest import base_env
from tests.support.lossy_transport import AnswerLost

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
def log(storage_clients: StorageClients) -> TableAuditLog:
    return TableAuditLog(storage_clients)


def entry(tenant_id: str, minute: int) -> AuditEntry:
    return AuditEntry(
        tenant_id, T0 + timedelta(minutes=minute), "optout.user.changed", "applied", actor_id="admin-oid",
        event_id=f"evt-{minute}", subject_ids=(str(uuid.uuid4()),), counts={"n": minute},
    )  # fmt: skip


def test_an_entry_reads_back_with_every_field(log: TableAuditLog, tenant_id: str) -> None:
    stored = log.append(entry(tenant_id, 1))
    assert log.page(tenant_id, 10, None).entries == [stored]


def test_entries_come_newest_first(log: TableAuditLog, tenant_id: str) -> None:
    for minute in (0, 1, 2):
        log.append(entry(tenant_id, minute))
    assert [e.event_id for e in log.page(tenant_id, 10, None).entries] == ["evt-2", "evt-1", "evt-0"]


def test_entries_of_the_same_instant_list_in_reverse_order_of_appending(
    log: TableAuditLog, tenant_id: str
) -> None:
    for name in ("change", "purge", "webhook"):
        log.append(AuditEntry(tenant_id, T0, name, "applied"))
    assert [e.kind for e in log.page(tenant_id, 10, None).entries] == ["webhook", "purge", "change"]


def test_pages_cover_every_entry_once_and_the_last_has_no_token(log: TableAuditLog, tenant_id: str) -> None:
    for minute in range(7):
        log.append(entry(tenant_id, minute))
    seen: list[str | None] = []
    token: str | None = None
    pages = 0
    while True:
        page = log.page(tenant_id, 3, token)
        seen += [e.event_id for e in page.entries]
        pages += 1
        token = page.continuation
        if token is None:
            break
    assert seen == [f"evt-{m}" for m in range(6, -1, -1)]
    assert pages == 3


def test_another_tenants_entries_never_appear(log: TableAuditLog, tenant_id: str) -> None:
    log.append(entry(str(uuid.uuid4()), 1))
    assert log.page(tenant_id, 10, None).entries == []


def test_a_token_that_is_not_ours_is_refused(log: TableAuditLog, tenant_id: str) -> None:
    with pytest.raises(ValidationFailed):
        log.page(tenant_id, 10, "not-a-token")


def test_another_tenants_token_is_refused(log: TableAuditLog, tenant_id: str) -> None:
    other = str(uuid.uuid4())
    for minute in range(3):
        log.append(entry(other, minute))
    token = log.page(other, 1, None).continuation
    assert token is not None
    with pytest.raises(ValidationFailed):
        log.page(tenant_id, 1, token)


def test_an_insert_whose_answer_was_lost_is_written_once(
    storage_connection_string: str, tenant_id: str
) -> None:
    transport = AnswerLost("audit")
    clients = StorageClients(Settings.from_env(base_env(storage_connection_string)).storage)
    clients.table_service = TableServiceClient.from_connection_string(  # type: ignore[misc]
        storage_connection_string, transport=transport
    )
    log = TableAuditLog(clients)
    stored = log.append(entry(tenant_id, 1))
    assert transport.lost == 1
    assert log.page(tenant_id, 10, None).entries == [stored]
