"""The work queues this part of the app feeds: `purges` ({tenantId, purgeId}) and `ingest`.

Messages are JSON; `StorageClients.queue` base64-encodes them as the Functions host expects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from functions.adapters.storage import StorageClients, translate_storage_errors

PURGE_QUEUE = "purges"
INGEST_QUEUE = "ingest"


class WorkQueues(Protocol):
    def enqueue_purge(self, tenant_id: str, purge_id: str) -> None: ...

    def request_ingestion(self, tenant_id: str) -> None:
        """Ask ingestion to schedule the tenant now (the backfill after a grant)."""
        ...


class StorageWorkQueues:
    def __init__(self, storage: StorageClients) -> None:
        self._storage = storage

    def send(self, queue: str, message: Mapping[str, Any]) -> None:
        with translate_storage_errors():
            self._storage.queue(queue).send_message(json.dumps(message, separators=(",", ":")))

    def enqueue_purge(self, tenant_id: str, purge_id: str) -> None:
        self.send(PURGE_QUEUE, {"tenantId": tenant_id, "purgeId": purge_id})

    def request_ingestion(self, tenant_id: str) -> None:
        self.send(INGEST_QUEUE, {"type": "tenant.schedule", "tenantId": tenant_id})
