"""The work queues this part of the app feeds: `purges` ({tenantId, purgeId}), `ingest`, `membership` and
`refresh` (change notifications: refresh one user, renew or reconcile subscriptions).

Messages are JSON; `StorageClients.queue` base64-encodes them as the Functions host expects.

Requests that are about a whole tenant (schedule its ingestion, resolve its opted-out groups) are coalesced:
at most one of each kind is pending per tenant. A request claims a row of table `requests` (PartitionKey
tenantId, RowKey the kind) before it sends its message; while that row exists, asking again sends nothing.
The worker calls `taken` when it starts, before it reads anything, so a request made while it runs sends
a new message and nothing asked for is missed. A row older than `STALE_REQUEST` is a lost message or a
crashed worker: the next request sends again. A refresh of one user is coalesced the same way (RowKey
`refresh_{userId}`), and its message becomes visible only after the coalescing delay, so the notifications
of a burst ride on one delta round.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from functions.adapters.storage import StorageClients, translate_storage_errors
from functions.adapters.table_rows import (
    conflicts_as_concurrency,
    etag_of,
    guarded_update,
    insert,
    iso,
    parse_iso,
)
from functions.domain.errors import ConcurrencyConflict
from functions.services.ports.queues import RequestKind

PURGE_QUEUE = "purges"
INGEST_QUEUE = "ingest"
MEMBERSHIP_QUEUE = "membership"
REFRESH_QUEUE = "refresh"
REQUESTS_TABLE = "requests"
STALE_REQUEST = timedelta(minutes=15)


def send_json(
    storage: StorageClients, queue: str, message: Mapping[str, Any], *, delay_seconds: int = 0
) -> None:
    """The one writer of every queue: compact JSON (base64 on the wire, by `StorageClients.queue`)."""
    with translate_storage_errors():
        storage.queue(queue).send_message(
            json.dumps(message, separators=(",", ":")), visibility_timeout=delay_seconds or None
        )


def purge_message(tenant_id: str, purge_id: str) -> dict[str, Any]:
    return {"tenantId": tenant_id, "purgeId": purge_id}


def schedule_message(tenant_id: str) -> dict[str, Any]:
    return {"type": "tenant.schedule", "tenantId": tenant_id}


def membership_message(tenant_id: str) -> dict[str, Any]:
    return {"type": "groups.resolve", "tenantId": tenant_id}


def refresh_message(tenant_id: str, user_id: str) -> dict[str, Any]:
    return {"type": "user.refresh", "tenantId": tenant_id, "userId": user_id}


def subscription_sync_message(tenant_id: str) -> dict[str, Any]:
    return {"type": "subscriptions.sync", "tenantId": tenant_id}


def _refresh_key(user_id: str) -> str:
    return f"refresh_{user_id}"


class StorageWorkQueues:
    def __init__(self, storage: StorageClients, *, stale_after: timedelta = STALE_REQUEST) -> None:
        self._storage = storage
        self._stale_after = stale_after

    def send(self, queue: str, message: Mapping[str, Any], *, delay_seconds: int = 0) -> None:
        send_json(self._storage, queue, message, delay_seconds=delay_seconds)

    def enqueue_purge(self, tenant_id: str, purge_id: str) -> None:
        self.send(PURGE_QUEUE, purge_message(tenant_id, purge_id))

    def enqueue_windows(self, messages: Iterable[dict[str, Any]]) -> None:
        for message in messages:
            self.send(INGEST_QUEUE, message)

    def poison(self, queue: str, body: str) -> None:
        """Put a message its function cannot read on `<queue>-poison` as it came, for a person to look at
        (the one policy for malformed messages: never a silent drop, never five pointless retries)."""
        with translate_storage_errors():
            self._storage.queue(f"{queue}-poison").send_message(body)

    def request_ingestion(self, tenant_id: str, now: datetime) -> bool:
        return self._request("schedule", tenant_id, now, INGEST_QUEUE, schedule_message(tenant_id))

    def request_membership(self, tenant_id: str, now: datetime) -> bool:
        return self._request("membership", tenant_id, now, MEMBERSHIP_QUEUE, membership_message(tenant_id))

    def request_refresh(self, tenant_id: str, user_id: str, now: datetime, delay_seconds: int) -> bool:
        message = refresh_message(tenant_id, user_id)
        return self._request(
            _refresh_key(user_id), tenant_id, now, REFRESH_QUEUE, message, delay_seconds=delay_seconds
        )

    def refresh_taken(self, tenant_id: str, user_id: str) -> None:
        self._release(_refresh_key(user_id), tenant_id)

    def request_subscription_sync(self, tenant_id: str, now: datetime) -> bool:
        message = subscription_sync_message(tenant_id)
        return self._request("subscriptions", tenant_id, now, REFRESH_QUEUE, message)

    def taken(self, kind: RequestKind, tenant_id: str) -> None:
        self._release(kind, tenant_id)

    def _release(self, row_key: str, tenant_id: str) -> None:
        """Forget a claimed request (a tenant-wide kind, or one user's refresh): the next one is sent."""
        with translate_storage_errors(), contextlib.suppress(ResourceNotFoundError):
            self._storage.table(REQUESTS_TABLE).delete_entity(tenant_id, row_key)

    def pending(self, kind: RequestKind, tenant_id: str) -> bool:
        with translate_storage_errors():
            try:
                self._storage.table(REQUESTS_TABLE).get_entity(tenant_id, kind)
            except ResourceNotFoundError:
                return False
        return True

    def _request(
        self,
        kind: str,
        tenant_id: str,
        now: datetime,
        queue: str,
        message: Mapping[str, Any],
        *,
        delay_seconds: int = 0,
    ) -> bool:
        if not self._claim(kind, tenant_id, now):
            return False
        try:
            self.send(queue, message, delay_seconds=delay_seconds)
        except BaseException:
            self._release(kind, tenant_id)  # nothing was sent: the next request must not be swallowed
            raise
        return True

    def _claim(self, kind: str, tenant_id: str, now: datetime) -> bool:
        table = self._storage.table(REQUESTS_TABLE)
        row = {"PartitionKey": tenant_id, "RowKey": kind, "requestedAt": iso(now)}
        with translate_storage_errors():
            try:
                insert(table, row)
            except ResourceExistsError:
                pass
            else:
                return True
            try:
                pending = table.get_entity(tenant_id, kind)
            except ResourceNotFoundError:
                return self._claim_again(kind, tenant_id, now)
        requested = parse_iso(pending.get("requestedAt"))
        if requested is not None and now - requested < self._stale_after:
            return False
        try:
            with conflicts_as_concurrency():
                table.update_entity(row, **guarded_update(etag_of(pending)))
        except ConcurrencyConflict:
            return False  # another request renewed it at the same moment: its message is on its way
        return True

    def _claim_again(self, kind: str, tenant_id: str, now: datetime) -> bool:
        """The pending request was taken between our insert and our read: claim anew (once)."""
        with translate_storage_errors():
            try:
                insert(
                    self._storage.table(REQUESTS_TABLE),
                    {"PartitionKey": tenant_id, "RowKey": kind, "requestedAt": iso(now)},
                )
            except ResourceExistsError:
                return False
        return True
