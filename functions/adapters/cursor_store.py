"""Ingestion cursors in table `cursors` (PartitionKey tenantId): RowKey `{userId}_{window}` per window
(`backfill-00`..`backfill-11`, `incremental`: status, counts, the run's start time, the mail delta link) and
`{userId}_profile` (the user as the last scheduling run saw them: name, address, group exclusion).

Every row of a user starts with `{userId}_`, so a user is one key range of the tenant's partition.
ScopedStore: tenant scope = the partition; user scope = that key range; feature scope = nothing (cursors
serve both features).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

from functions.adapters import table_batch
from functions.adapters.scoped_table import ScopedTableStore, ScopeFilter
from functions.adapters.storage import translate_storage_errors
from functions.adapters.table_rows import Entity, get_json, iso, parse_iso, put_json, required_iso
from functions.domain.ingestion import WINDOW_STATUSES, Cursor, UserProfile, WindowStatus
from functions.domain.scope import Scope
from functions.services.ports.ingestion import TenantCursors

TABLE = "cursors"
_PROFILE = "profile"


def _row_key(user_id: str, suffix: str) -> str:
    return f"{user_id.lower()}_{suffix}"


class TableCursorStore(ScopedTableStore):
    name = TABLE

    def tenant(self, tenant_id: str) -> TenantCursors:
        cursors: list[Cursor] = []
        profiles: dict[str, UserProfile] = {}
        for row in self._rows("PartitionKey eq @pk", {"pk": tenant_id.lower()}):
            if str(row["RowKey"]).endswith("_" + _PROFILE):
                profile = _profile_from(row)
                profiles[profile.user_id] = profile
            else:
                cursors.append(_cursor_from(row))
        return TenantCursors(cursors, profiles)

    def failed(self, tenant_id: str) -> list[Cursor]:
        """The tenant's failed windows (the insight routes say `partial` while there are any)."""
        rows = self._rows(
            "PartitionKey eq @pk and status eq @failed", {"pk": tenant_id.lower(), "failed": "failed"}
        )
        return [_cursor_from(r) for r in rows]

    def profiles(self, tenant_id: str) -> dict[str, UserProfile]:
        rows = self._rows("PartitionKey eq @pk and seenAt ge @any", {"pk": tenant_id.lower(), "any": "0"})
        return {p.user_id: p for p in map(_profile_from, rows)}

    def user(self, tenant_id: str, user_id: str) -> list[Cursor]:
        start, end = table_batch.prefix_range(_row_key(user_id, ""))
        query = "PartitionKey eq @pk and RowKey ge @start and RowKey lt @end"
        rows = self._rows(query, {"pk": tenant_id.lower(), "start": start, "end": end})
        return [_cursor_from(r) for r in rows if not str(r["RowKey"]).endswith("_" + _PROFILE)]

    def get(self, tenant_id: str, user_id: str, window: str) -> Cursor | None:
        with translate_storage_errors():
            try:
                row = self._table.get_entity(tenant_id.lower(), _row_key(user_id, window))
            except ResourceNotFoundError:
                return None
        return _cursor_from(row)

    def save(self, cursor: Cursor) -> None:
        self.save_all([cursor])

    def save_all(self, cursors: Iterable[Cursor]) -> None:
        table_batch.upsert_all(self._table, (_cursor_entity(c) for c in cursors))

    def update_if_present(self, cursor: Cursor) -> bool:
        """Replace the cursor only if its row still exists: a purge that deleted it must not see it again."""
        with translate_storage_errors():
            try:
                self._table.update_entity(_cursor_entity(cursor), mode=UpdateMode.REPLACE)
            except ResourceNotFoundError:
                return False
        return True

    def delete(self, tenant_id: str, user_id: str, window: str) -> None:
        with translate_storage_errors():
            self._table.delete_entity(tenant_id.lower(), _row_key(user_id, window))

    def create_all(self, cursors: list[Cursor]) -> bool:
        """Insert one user's new cursors in one transaction; False when any of them exists already (another
        scheduling run got there first, so its messages are the ones that count)."""
        operations: list[Any] = [("create", _cursor_entity(c)) for c in cursors]
        with translate_storage_errors():
            try:
                self._table.submit_transaction(operations)
            except TableTransactionError as error:
                if error.status_code == 409:
                    return False
                raise
        return True

    def save_profiles(self, profiles: Iterable[UserProfile]) -> None:
        table_batch.upsert_all(self._table, (_profile_entity(p) for p in profiles))

    def delete_profiles(self, tenant_id: str, user_ids: Iterable[str]) -> int:
        """Forget what the directory said of these users (now excluded); the number of profiles deleted."""
        keys = ((tenant_id.lower(), _row_key(user_id, _PROFILE)) for user_id in sorted(user_ids))
        return table_batch.delete_keys(self._table, keys)

    def running(self, scope: Scope) -> list[Cursor]:
        """Windows of the scope running now, each with its `started_at`: what a purge fences on."""
        query = _scope_query(scope)
        if query is None:
            query = ("PartitionKey eq @pk", {"pk": scope.tenant_id.lower()})
        text, parameters = query
        rows = self._rows(f"{text} and status eq @running", {**parameters, "running": "running"})
        return [_cursor_from(r) for r in rows]

    # --- ScopedStore ----------------------------------------------------------------------------------------

    def scope_filter(self, scope: Scope) -> ScopeFilter | None:
        return _scope_query(scope)


def _scope_query(scope: Scope) -> tuple[str, dict[str, Any]] | None:
    if scope.kind == "tenant":
        return "PartitionKey eq @pk", {"pk": scope.tenant_id.lower()}
    if scope.kind == "user":
        start, end = table_batch.prefix_range(_row_key(str(scope.user_id), ""))
        query = "PartitionKey eq @pk and RowKey ge @start and RowKey lt @end"
        return query, {"pk": scope.tenant_id.lower(), "start": start, "end": end}
    return None


def _cursor_entity(cursor: Cursor) -> Entity:
    entity: Entity = {
        "PartitionKey": cursor.tenant_id.lower(),
        "RowKey": _row_key(cursor.user_id, cursor.window),
        "userId": cursor.user_id.lower(),
        "window": cursor.window,
        "start": iso(cursor.start),
        "end": iso(cursor.end) if cursor.end else "",
        "status": cursor.status,
        "updatedAt": iso(cursor.updated_at),
        "runId": cursor.run_id,
        "startedAt": iso(cursor.started_at) if cursor.started_at else "",
        "finishedAt": iso(cursor.finished_at) if cursor.finished_at else "",
        "attempts": cursor.attempts,
        "deltaLink": cursor.delta_link or "",
        "error": (cursor.error or "")[:1000],
    }
    put_json(entity, "counts", dict(cursor.counts))
    return entity


def _cursor_from(row: Any) -> Cursor:
    status = row.get("status")
    known: WindowStatus = next((s for s in WINDOW_STATUSES if s == status), "failed")
    return Cursor(
        tenant_id=str(row["PartitionKey"]),
        user_id=str(row["userId"]),
        window=str(row["window"]),
        start=required_iso(row["start"]),
        end=parse_iso(row.get("end")),
        status=known,
        updated_at=required_iso(row["updatedAt"]),
        run_id=row.get("runId") or "",
        started_at=parse_iso(row.get("startedAt")),
        finished_at=parse_iso(row.get("finishedAt")),
        attempts=int(row.get("attempts", 0)),
        counts=get_json(row, "counts", {}),
        delta_link=row.get("deltaLink") or None,
        error=row.get("error") or None,
    )


def _profile_entity(profile: UserProfile) -> Entity:
    return {
        "PartitionKey": profile.tenant_id.lower(),
        "RowKey": _row_key(profile.user_id, _PROFILE),
        "userId": profile.user_id.lower(),
        "displayName": profile.display_name,
        "mail": profile.mail,
        "userPrincipalName": profile.user_principal_name,
        "present": profile.present,
        "seenAt": iso(profile.seen_at),
    }


def _profile_from(row: Any) -> UserProfile:
    return UserProfile(
        tenant_id=str(row["PartitionKey"]),
        user_id=str(row["userId"]),
        display_name=row.get("displayName") or "",
        mail=row.get("mail") or "",
        user_principal_name=row.get("userPrincipalName") or "",
        present=bool(row.get("present", True)),
        seen_at=required_iso(row["seenAt"]),
    )
