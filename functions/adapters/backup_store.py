"""Daily slice backups in blob container `backups`: `{tenantId}/{userId}/{yyyy-mm-dd}.jsonl`, one
interaction per line (functions/adapters/interaction_codec.py `to_line`). One subject is one prefix: a tenant
`{tenantId}/`, a user `{tenantId}/{userId}/`.

ScopedStore: tenant and user scopes delete by prefix (blob batch deletes of up to 256 blobs); feature scope
= nothing (a backup holds slices, which serve both features).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContainerClient, ContentSettings

from functions.adapters import interaction_codec
from functions.adapters.storage import StorageClients, translate_storage_errors
from functions.domain.interactions import Interaction
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

    def write(self, tenant_id: str, user_id: str, day: date, interactions: Iterable[Interaction]) -> int:
        """Write (or overwrite) one user's backup of `day`, streaming the interactions; returns how many."""
        written = 0

        def lines() -> Iterator[bytes]:
            nonlocal written
            for interaction in interactions:
                written += 1
                yield interaction_codec.to_line(interaction)

        with translate_storage_errors():
            self._container.upload_blob(
                backup_name(tenant_id, user_id, day),
                lines(),
                overwrite=True,
                content_settings=ContentSettings(content_type="application/x-ndjson"),
            )
        return written

    def read(self, tenant_id: str, user_id: str, day: date) -> list[Interaction]:
        with translate_storage_errors():
            try:
                data = self._container.download_blob(backup_name(tenant_id, user_id, day)).readall()
            except ResourceNotFoundError:
                return []
        return [interaction_codec.from_line(line) for line in data.splitlines() if line.strip()]

    def delete(self, tenant_id: str, user_id: str, day: date) -> int:
        return self._delete_names([backup_name(tenant_id, user_id, day)])

    def users_with_backup(self, tenant_id: str, day: date) -> list[str]:
        """The users of the tenant who have a backup of `day`."""
        suffix = f"/{day.isoformat()}.jsonl"
        names = self.names(f"{tenant_id.lower()}/")
        return [name.split("/")[1] for name in names if name.endswith(suffix)]

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
