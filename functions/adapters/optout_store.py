"""Opt-outs in table `optouts` (PartitionKey tenantId): row `groups` (the group list with each group's
source) and one row `user-{userId}` per user who ever opted out (kept when they opt back in: it is the
subject's ordering key and its history). Every write is guarded by the ETag read with it.

Rows `excluded-{userId}`: the transitive members of opted-out groups as the last scheduling run resolved
them through Graph (replaced as a whole by each run). The ingestion worker, the backup job and the insight
routes read them to keep those users out. They are here, not with the directory profiles, because they are
what keeps a subject excluded: object IDs only, like the opt-out rows, and not something a purge deletes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from functions.adapters import table_batch
from functions.adapters.storage import StorageClients, translate_storage_errors
from functions.adapters.table_rows import (
    Entity,
    conflicts_as_concurrency,
    etag_of,
    get_json,
    guarded_update,
    iso,
    parse_iso,
    provenance_from_json,
    provenance_to_json,
    put_json,
    required_iso,
)
from functions.domain.optouts import GroupOptOut, GroupOptOuts, GroupSource, UserOptOut

TABLE = "optouts"
_GROUPS = "groups"
_USER = "user-"
_EXCLUDED = "excluded-"  # a transitive member of an opted-out group, as the last scheduling run resolved it
_SOURCES: tuple[GroupSource, ...] = ("admin", "consent-grant", "legacy-migration")


@dataclass(frozen=True, slots=True)
class StoredGroups:
    groups: GroupOptOuts
    etag: str | None


@dataclass(frozen=True, slots=True)
class StoredUser:
    user: UserOptOut | None
    etag: str | None


class OptOutStore(Protocol):
    def load_groups(self, tenant_id: str) -> StoredGroups: ...

    def save_groups(self, groups: GroupOptOuts, etag: str | None) -> None: ...

    def load_user(self, tenant_id: str, user_id: str) -> StoredUser: ...

    def save_user(self, user: UserOptOut, etag: str | None) -> None: ...

    def users(self, tenant_id: str) -> list[UserOptOut]:
        """Every user row of the tenant (opted out or back in)."""
        ...

    def group_excluded(self, tenant_id: str) -> frozenset[str]:
        """The users the last scheduling run found in an opted-out group (object IDs, lower case)."""
        ...

    def is_group_excluded(self, tenant_id: str, user_id: str) -> bool: ...

    def replace_group_excluded(self, tenant_id: str, user_ids: Iterable[str], now: datetime) -> None:
        """Make `user_ids` the tenant's group-excluded users (the scheduling run's resolution)."""
        ...


class TableOptOutStore:
    def __init__(self, storage: StorageClients) -> None:
        self._storage = storage

    @property
    def _table(self) -> TableClient:
        return self._storage.table(TABLE)

    def load_groups(self, tenant_id: str) -> StoredGroups:
        row = self._get(tenant_id, _GROUPS)
        if row is None:
            return StoredGroups(GroupOptOuts(tenant_id), None)
        entries = {}
        for item in get_json(row, "groups", []):
            source = item.get("source")
            entries[item["groupId"]] = GroupOptOut(
                group_id=item["groupId"],
                source=source if source in _SOURCES else "admin",
                added_at=required_iso(item["addedAt"]),
                event_id=item["eventId"],
            )
        groups = GroupOptOuts(
            tenant_id=tenant_id,
            entries=entries,
            last_event_time=parse_iso(row.get("lastEventTime")),
            last_event_id=row.get("lastEventId") or None,
            version=int(row.get("version", 0)),
        )
        return StoredGroups(groups, etag_of(row))

    def save_groups(self, groups: GroupOptOuts, etag: str | None) -> None:
        entity: Entity = {
            "PartitionKey": groups.tenant_id,
            "RowKey": _GROUPS,
            "lastEventTime": iso(groups.last_event_time) if groups.last_event_time else "",
            "lastEventId": groups.last_event_id or "",
            "version": groups.version,
            "count": len(groups.entries),
        }
        put_json(
            entity,
            "groups",
            [
                {"groupId": e.group_id, "source": e.source, "addedAt": iso(e.added_at), "eventId": e.event_id}
                for e in sorted(groups.entries.values(), key=lambda e: e.group_id)
            ],
        )
        self._write(entity, etag)

    def load_user(self, tenant_id: str, user_id: str) -> StoredUser:
        row = self._get(tenant_id, _USER + user_id)
        return StoredUser(None, None) if row is None else StoredUser(_user_from(row), etag_of(row))

    def save_user(self, user: UserOptOut, etag: str | None) -> None:
        entity: Entity = {
            "PartitionKey": user.tenant_id,
            "RowKey": _USER + user.user_id,
            "userId": user.user_id,
            "optedOut": user.opted_out,
            "lastEventTime": iso(user.last_event_time),
            "lastEventId": user.last_event_id,
            "purgeId": user.purge_id or "",
        }
        put_json(entity, "changed", provenance_to_json(user.changed))
        self._write(entity, etag)

    def users(self, tenant_id: str) -> list[UserOptOut]:
        query = "PartitionKey eq @pk and RowKey ge @start and RowKey lt @end"
        with translate_storage_errors():
            rows = self._table.query_entities(
                query, parameters={"pk": tenant_id, "start": _USER, "end": "user."}
            )
            return [_user_from(row) for row in rows]

    def group_excluded(self, tenant_id: str) -> frozenset[str]:
        query = "PartitionKey eq @pk and RowKey ge @start and RowKey lt @end"
        start, end = table_batch.prefix_range(_EXCLUDED)
        with translate_storage_errors():
            rows = self._table.query_entities(
                query, parameters={"pk": tenant_id, "start": start, "end": end}, select=["RowKey"]
            )
            return frozenset(str(row["RowKey"]).removeprefix(_EXCLUDED) for row in rows)

    def is_group_excluded(self, tenant_id: str, user_id: str) -> bool:
        return self._get(tenant_id, _EXCLUDED + user_id.lower()) is not None

    def replace_group_excluded(self, tenant_id: str, user_ids: Iterable[str], now: datetime) -> None:
        # Added before removed: a user in both the old and the new set is never briefly unfenced.
        wanted = frozenset(u.lower() for u in user_ids)
        rows = (
            {"PartitionKey": tenant_id, "RowKey": _EXCLUDED + u, "seenAt": iso(now)} for u in sorted(wanted)
        )
        table_batch.upsert_all(self._table, rows)
        gone = self.group_excluded(tenant_id) - wanted
        table_batch.delete_keys(self._table, ((tenant_id, _EXCLUDED + u) for u in sorted(gone)))

    def _get(self, tenant_id: str, row_key: str) -> Any:
        with translate_storage_errors():
            try:
                return self._table.get_entity(tenant_id, row_key)
            except ResourceNotFoundError:
                return None

    def _write(self, entity: Entity, etag: str | None) -> None:
        with conflicts_as_concurrency():
            if etag is None:
                self._table.create_entity(entity)
            else:
                self._table.update_entity(entity, mode=UpdateMode.REPLACE, **guarded_update(etag))


def _user_from(row: Entity) -> UserOptOut:
    return UserOptOut(
        tenant_id=row["PartitionKey"],
        user_id=row["userId"],
        opted_out=bool(row["optedOut"]),
        changed=provenance_from_json(get_json(row, "changed")),
        last_event_time=required_iso(row["lastEventTime"]),
        last_event_id=row["lastEventId"],
        purge_id=row.get("purgeId") or None,
    )
