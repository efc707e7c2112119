"""Webhook receipts in table `webhookreceipts` (PartitionKey webhook-id, RowKey `receipt`): idempotency.

A delivery first *claims* its webhook-id by inserting a `pending` receipt; the insert is atomic, so of two
concurrent deliveries of one id exactly one processes it. The winner stores the response it gave
(`complete`), and every later delivery of that id with the same body gets that response again. A claim whose
holder crashed is taken over after a lease (ETag-guarded, so only one taker wins); a processing failure
releases the claim so the sender's retry can process the event.

Receipts hold the body's SHA-256 and our response (IDs, type, outcome): no user IDs, nothing to purge.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from functions.adapters.storage import StorageClients, translate_storage_errors
from functions.adapters.table_rows import (
    Entity,
    conflicts_as_concurrency,
    etag_of,
    guarded_update,
    insert,
    iso,
    required_iso,
    safe_key,
)
from functions.services.ports.consent import Receipt

TABLE = "webhookreceipts"
_ROW = "receipt"


class TableReceiptStore:
    def __init__(self, storage: StorageClients) -> None:
        self._storage = storage

    @property
    def _table(self) -> TableClient:
        return self._storage.table(TABLE)

    def claim(self, webhook_id: str, body_sha256: str, now: datetime) -> tuple[bool, Receipt]:
        receipt = Receipt(webhook_id, body_sha256, "pending", now)
        with translate_storage_errors():
            try:
                metadata = insert(self._table, _entity(receipt))
            except ResourceExistsError:
                existing = self.get(webhook_id)
                if existing is None:  # released between our insert and our read: try once more
                    return self.claim(webhook_id, body_sha256, now)
                return False, existing
        return True, replace(receipt, etag=str(metadata.get("etag")))

    def get(self, webhook_id: str) -> Receipt | None:
        with translate_storage_errors():
            try:
                row = self._table.get_entity(safe_key(webhook_id), _ROW)
            except ResourceNotFoundError:
                return None
        return Receipt(
            webhook_id=webhook_id,
            body_sha256=row["bodySha256"],
            state="done" if row.get("state") == "done" else "pending",
            claimed_at=required_iso(row["claimedAt"]),
            status=int(row["status"]) if row.get("status") else None,
            body=row.get("body") or None,
            etag=etag_of(row),
        )

    def take_over(self, receipt: Receipt, now: datetime) -> Receipt:
        claimed = replace(receipt, state="pending", claimed_at=now, status=None, body=None)
        with conflicts_as_concurrency():
            metadata = self._table.update_entity(
                _entity(claimed), mode=UpdateMode.REPLACE, **guarded_update(receipt.etag)
            )
        return replace(claimed, etag=str(metadata.get("etag")))

    def complete(self, receipt: Receipt, status: int, body: str) -> None:
        done = replace(receipt, state="done", status=status, body=body)
        with conflicts_as_concurrency():
            self._table.update_entity(_entity(done), mode=UpdateMode.REPLACE, **guarded_update(receipt.etag))

    def release(self, receipt: Receipt) -> None:
        with conflicts_as_concurrency():
            try:
                self._table.delete_entity(safe_key(receipt.webhook_id), _ROW, **guarded_update(receipt.etag))
            except ResourceNotFoundError:
                return


def _entity(receipt: Receipt) -> Entity:
    return {
        "PartitionKey": safe_key(receipt.webhook_id),
        "RowKey": _ROW,
        "bodySha256": receipt.body_sha256,
        "state": receipt.state,
        "claimedAt": iso(receipt.claimed_at),
        "status": receipt.status or 0,
        "body": receipt.body or "",
    }
