"""The `purges` queue as the maintenance timer uses it: re-queueing purges, and moving messages back from
`purges-poison`.

Messages are `{"tenantId", "purgeId"}` JSON, base64-encoded by `StorageClients.queue` as the host expects.
The Functions host moves a message to `purges-poison` after `maxDequeueCount` failed runs; the poison queue
has no trigger, so nothing is lost there: `requeue_poison` sends each readable message back to `purges`
(a fresh message, dequeue count 0) and only then deletes it from the poison queue. A crash between the two
leaves a duplicate, which the purge function shrugs off (it is idempotent); it never leaves nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from functions.adapters.queues import PURGE_QUEUE, purge_message, send_json
from functions.adapters.storage import StorageClients, translate_storage_errors
from functions.services.ports.queues import PurgeMessage

POISON_QUEUE = f"{PURGE_QUEUE}-poison"
_RECEIVE_BATCH = 32  # the most messages one receive call returns
_INSPECT_SECONDS = 60  # how long a poison message stays hidden while it is being moved

logger = logging.getLogger(__name__)


def parse_purge_message(body: str | bytes) -> PurgeMessage | None:
    """The message's tenant and purge IDs, or None when it is not a purge message."""
    try:
        value = json.loads(body)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    tenant_id, purge_id = value.get("tenantId"), value.get("purgeId")
    if not isinstance(tenant_id, str) or not isinstance(purge_id, str) or not tenant_id or not purge_id:
        return None
    return PurgeMessage(tenant_id, purge_id)


class StoragePurgeQueue:
    def __init__(self, storage: StorageClients, queue: str = PURGE_QUEUE) -> None:
        self._storage = storage
        self.queue_name, self.poison_name = queue, f"{queue}-poison"

    def enqueue(self, tenant_id: str, purge_id: str) -> None:
        send_json(self._storage, self.queue_name, purge_message(tenant_id, purge_id))

    def requeue_poison(self, keep: Callable[[PurgeMessage], bool]) -> list[PurgeMessage]:
        poison = self._storage.queue(self.poison_name)
        moved: list[PurgeMessage] = []
        seen: set[str] = set()
        with translate_storage_errors():
            while True:
                batch = list(
                    poison.receive_messages(
                        messages_per_page=_RECEIVE_BATCH,
                        max_messages=_RECEIVE_BATCH,
                        visibility_timeout=_INSPECT_SECONDS,
                    )
                )
                fresh = [m for m in batch if m.id not in seen]
                if not fresh:
                    break
                for message in fresh:
                    seen.add(message.id)
                    parsed = parse_purge_message(message.content)
                    if parsed is None:
                        # Kept for a person to look at; it is hidden again for a minute only.
                        logger.error(
                            "purges-poison holds an unreadable message %s; left in place", message.id
                        )
                        continue
                    if keep(parsed):
                        self.enqueue(parsed.tenant_id, parsed.purge_id)
                        moved.append(parsed)
                    poison.delete_message(message)
        return moved
