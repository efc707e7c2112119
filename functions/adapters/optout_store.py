"""Opt-outs in table `optouts` (PartitionKey tenantId): row `groups` (the group list with each group's
source) and one row `user-{userId}` per user who ever opted out (kept when they opt back in: it is the
subject's ordering key and its history). Every write is guarded by the ETag read with it.

The resolved group membership (`functions.domain.inclusion.GroupMembership`): row `membership` (which groups
were resolved, for which version of the group list, when) and one row `member-{userId}` per user found in any
of them (the groups they are in). Every inclusion decision reads them. They are here, not with the directory
profiles, because they are what keeps a subject excluded: object IDs only, like the opt-out rows, and not
something a purge deletes.

Saving a resolution: member rows first (a new member is excluded before the marker says the groups are
resolved), then the marker (ETag-guarded; a resolution of an older group list never replaces a newer one),
then the rows of users who are no longer members (so nobody is briefly un-excluded by a half-written save).
"""

from __future__ import annotations

from typing import Any

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
    insert,
    iso,
    parse_iso,
    provenance_from_json,
    provenance_to_json,
    put_json,
    required_iso,
)
from functions.domain.errors import ConcurrencyConflict
from functions.domain.inclusion import GroupMembership
from functions.domain.optouts import GroupOptOut, GroupOptOuts, GroupSource, UserOptOut
from functions.services.ports.consent import OptOutSnapshot, StoredGroups, StoredUser

TABLE = "optouts"
_GROUPS = "groups"
_USER = "user-"
_MEMBERSHIP = "membership"
_MEMBER = "member-"  # a user found in a resolved group: the groups they are in
_SAVE_ATTEMPTS = 10
_SOURCES: tuple[GroupSource, ...] = ("admin", "consent-grant", "legacy-migration")


class TableOptOutStore:
    def __init__(self, storage: StorageClients) -> None:
        self._storage = storage

    @property
    def _table(self) -> TableClient:
        return self._storage.table(TABLE)

    def snapshot(self, tenant_id: str) -> OptOutSnapshot:
        groups: Entity | None = None
        marker: Entity | None = None
        users: list[UserOptOut] = []
        members: dict[str, frozenset[str]] = {}
        with translate_storage_errors():
            for row in self._table.query_entities("PartitionKey eq @pk", parameters={"pk": tenant_id}):
                key = str(row["RowKey"])
                if key == _GROUPS:
                    groups = row
                elif key == _MEMBERSHIP:
                    marker = row
                elif key.startswith(_USER):
                    users.append(_user_from(row))
                elif key.startswith(_MEMBER):
                    members[_member_id(row)] = frozenset(get_json(row, "groups", []))
        return OptOutSnapshot(
            _groups_from(tenant_id, groups).groups, users, _membership_from(marker, members)
        )

    def load_groups(self, tenant_id: str) -> StoredGroups:
        return _groups_from(tenant_id, self._get(tenant_id, _GROUPS))

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

    def membership(self, tenant_id: str) -> GroupMembership:
        marker = self._get(tenant_id, _MEMBERSHIP)
        query = "PartitionKey eq @pk and RowKey ge @start and RowKey lt @end"
        start, end = table_batch.prefix_range(_MEMBER)
        with translate_storage_errors():
            rows = self._table.query_entities(query, parameters={"pk": tenant_id, "start": start, "end": end})
            members = {_member_id(row): frozenset(get_json(row, "groups", [])) for row in rows}
        return _membership_from(marker, members)

    def membership_of(self, tenant_id: str, user_id: str) -> GroupMembership:
        uid = user_id.lower()
        marker = self._get(tenant_id, _MEMBERSHIP)
        row = self._get(tenant_id, _MEMBER + uid)
        return _membership_from(marker, {} if row is None else {uid: frozenset(get_json(row, "groups", []))})

    def save_membership(self, tenant_id: str, membership: GroupMembership) -> bool:
        stored = self._get(tenant_id, _MEMBERSHIP)
        if not membership.supersedes(_membership_from(stored, {})):
            return False
        rows = []
        for uid, groups in sorted(membership.members.items()):
            row: Entity = {"PartitionKey": tenant_id, "RowKey": _MEMBER + uid.lower()}
            put_json(row, "groups", sorted(groups))
            rows.append(row)
        table_batch.upsert_all(self._table, rows)
        if not self._save_marker(tenant_id, membership, stored):
            return False
        wanted = {uid.lower() for uid in membership.members}
        start, end = table_batch.prefix_range(_MEMBER)
        keys = table_batch.query_keys(
            self._table,
            "PartitionKey eq @pk and RowKey ge @start and RowKey lt @end",
            {"pk": tenant_id, "start": start, "end": end},
        )
        gone = [key for key in keys if key[1].removeprefix(_MEMBER) not in wanted]
        table_batch.delete_keys(self._table, gone)
        return True

    def _save_marker(self, tenant_id: str, membership: GroupMembership, stored: Entity | None) -> bool:
        marker: Entity = {
            "PartitionKey": tenant_id,
            "RowKey": _MEMBERSHIP,
            "groupsVersion": membership.groups_version,
            "resolvedAt": iso(membership.resolved_at) if membership.resolved_at else "",
            "memberCount": len(membership.members),
        }
        put_json(marker, "groups", sorted(membership.groups))
        for _ in range(_SAVE_ATTEMPTS):
            try:
                self._write(marker, None if stored is None else etag_of(stored))
            except ConcurrencyConflict:
                stored = self._get(tenant_id, _MEMBERSHIP)
                if not membership.supersedes(_membership_from(stored, {})):
                    return False
            else:
                return True
        raise ConcurrencyConflict(f"the group membership of {tenant_id} kept changing while it was saved")

    def _get(self, tenant_id: str, row_key: str) -> Any:
        with translate_storage_errors():
            try:
                return self._table.get_entity(tenant_id, row_key)
            except ResourceNotFoundError:
                return None

    def _write(self, entity: Entity, etag: str | None) -> None:
        with conflicts_as_concurrency():
            if etag is None:
                insert(self._table, entity)
            else:
                self._table.update_entity(entity, mode=UpdateMode.REPLACE, **guarded_update(etag))


def _groups_from(tenant_id: str, row: Entity | None) -> StoredGroups:
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


def _membership_from(marker: Entity | None, members: dict[str, frozenset[str]]) -> GroupMembership:
    if marker is None:
        return GroupMembership(members=members)  # never resolved: covers no group
    return GroupMembership(
        groups=frozenset(get_json(marker, "groups", [])),
        members=members,
        groups_version=int(marker.get("groupsVersion", -1)),
        resolved_at=parse_iso(marker.get("resolvedAt")),
    )


def _member_id(row: Entity) -> str:
    return str(row["RowKey"]).removeprefix(_MEMBER)


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
