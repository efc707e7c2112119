"""Daily slice backups in blob container `backups`: `{tenantId}/{userId}/{yyyy-mm-dd}.jsonl`, one JSON
record (a slice row) per line. One subject is one prefix: a tenant `{tenantId}/`, a user
`{tenantId}/{userId}/`.

ScopedStore: tenant and user scopes delete by prefix (blob batch deletes of up to 256 blobs); feature scope
= nothing (a backup holds slices, which serve both features).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContainerClient, ContentSettings

from functions.adapters.storage import StorageClients, translate_storage_errors
from functions.domain.scope import Scope

CONTAINER = "backups"
_BLOB_BATCH = 256


def backup_name(tenant_id: str, user_id: str, day: date) -> str:
    return f"{tenant_id.lower()}/{user_id.lower()}/{day.isoformat()}.jsonl"


class BlobBackupStore:
    name = CONTAINER

    def __init__(self, storage: StorageClients) -> None:
        self._storage = storage

    @property
    def _container(self) -> ContainerClient:
        return self._storage.container(CONTAINER)

    def write(self, tenant_id: str, user_id: str, day: date, records: Iterable[dict[str, Any]]) -> int:
        """Write (or overwrite) one user's backup of `day`, streaming the records; returns how many."""
        written = 0

        def lines() -> Iterator[bytes]:
            nonlocal written
            for record in records:
                written += 1
                yield json.dumps(record, separators=(",", ":"), sort_keys=True).encode() + b"\n"

        with translate_storage_errors():
            self._container.upload_blob(
                backup_name(tenant_id, user_id, day),
                lines(),
                overwrite=True,
                content_settings=ContentSettings(content_type="application/x-ndjson"),
            )
        return written

    def read(self, tenant_id: str, user_id: str, day: date) -> list[dict[str, Any]]:
        with translate_storage_errors():
            try:
                data = self._container.download_blob(backup_name(tenant_id, user_id, day)).readall()
            except ResourceNotFoundError:
                return []
        return [json.loads(line) for line in data.splitlines() if line.strip()]

    def delete(self, tenant_id: str, user_id: str, day: date) -> int:
        return self._delete_names([backup_name(tenant_id, user_id, day)])

    def names(self, prefix: str) -> list[str]:
        with translate_storage_errors():
            return [blob.name for blob in self._container.list_blobs(name_starts_with=prefix)]

    # --- ScopedStore ----------------------------------------------------------------------------------------

    def delete_scope(self, scope: Scope) -> int:
        prefix = _prefix(scope)
        return 0 if prefix is None else self._delete_names(self.names(prefix))

    def count_scope(self, scope: Scope) -> int:
        prefix = _prefix(scope)
        return 0 if prefix is None else len(self.names(prefix))

    def _delete_names(self, names: list[str]) -> int:
        deleted = 0
        with translate_storage_errors():
            for start in range(0, len(names), _BLOB_BATCH):
                chunk = names[start : start + _BLOB_BATCH]
                responses = self._container.delete_blobs(*chunk, raise_on_any_failure=False)
                deleted += sum(1 for response in responses if response.status_code in (200, 202))
        return deleted


def _prefix(scope: Scope) -> str | None:
    if scope.kind == "tenant":
        return f"{scope.tenant_id.lower()}/"
    if scope.kind == "user":
        return f"{scope.tenant_id.lower()}/{str(scope.user_id).lower()}/"
    return None
