"""Opt-outs in table `optouts` (PartitionKey tenantId): row `groups` (the group list with each group's
source) and one row `user-{userId}` per user who ever opted out (kept when they opt back in: it is the
subject's ordering key and its history). Every write is guarded by the ETag read with it.

The resolved group membership (`functions.domain.inclusion.GroupMembership`): row `membership`, the marker
(which groups were resolved, for which version of the group list, when, and the resolution's ID), and for each
resolution one row `resolution-{resolutionId}-{userId}` per user it found in any of the groups (the groups
they are in). Every inclusion decision reads them. They are here, not with the directory profiles, because
they are what keeps a subject excluded: object IDs only, like the opt-out rows, and not something a purge
deletes.

Saving a resolution is a shadow copy: its member rows are written under its own ID, overwriting nobody's;
then the marker is moved to it (ETag-guarded, and only forward, in `GroupMembership.order`); a reader reads
the marker first and then only the rows of the resolution it names. So a reader sees one resolution whole,
a new member is excluded as soon as the marker says their groups are resolved, and a resolution that
finishes late (a scheduling run's, begun before the admin added a group) can neither replace a newer one nor
touch its rows. With one row per user shared by every resolution, such a late save deleted the rows of the
members only the newer resolution had found, after which the newer marker said their groups were resolved:
they were included. A save then deletes the rows of the resolutions older than its own, except those of the
one it replaced, which a reader that read the marker a moment before may still be reading (the next save
deletes them); a resolution that lost deletes its own. A whole read (`membership`, `snapshot`) that finds
fewer rows than the marker counts (two saves came between its reads) reads again, and after three tries
answers that no group is resolved, so nobody it could not see is included (fail closed).

Rows of the layout before resolution IDs (`member-{userId}`, a marker without an ID) are read as the
resolution their marker names, until a save replaces it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC
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

logger = logging.getLogger(__name__)

TABLE = "optouts"
_GROUPS = "groups"
_USER = "user-"
_MEMBERSHIP = "membership"
_RESOLUTION = "resolution-"  # + resolution ID + "-" + user ID: a user that resolution found, and their groups
_LEGACY_MEMBER = "member-"  # + user ID: a member row of the layout before resolution IDs
_SAVE_ATTEMPTS = 10
_READ_ATTEMPTS = 3
_SOURCES: tuple[GroupSource, ...] = ("admin", "consent-grant", "legacy-migration")


class TableOptOutStore:
    def __init__(self, storage: StorageClients) -> None:
        self._storage = storage

    @property
    def _table(self) -> TableClient:
        return self._storage.table(TABLE)

    def snapshot(self, tenant_id: str) -> OptOutSnapshot:
        for _ in range(_READ_ATTEMPTS):
            snapshot, whole = self._snapshot(tenant_id)
            if whole:
                return snapshot
        return replace(snapshot, membership=_unresolved(tenant_id, snapshot.membership))

    def _snapshot(self, tenant_id: str) -> tuple[OptOutSnapshot, bool]:
        groups: Entity | None = None
        marker: Entity | None = None
        users: list[UserOptOut] = []
        member_rows: list[Entity] = []
        with translate_storage_errors():
            # Key order puts the marker before every `resolution-` row, so the rows of the resolution it names
            # were all written before this scan reached them.
            for row in self._table.query_entities("PartitionKey eq @pk", parameters={"pk": tenant_id}):
                key = str(row["RowKey"])
                if key == _GROUPS:
                    groups = row
                elif key == _MEMBERSHIP:
                    marker = row
                elif key.startswith(_USER):
                    users.append(_user_from(row))
                elif key.startswith((_RESOLUTION, _LEGACY_MEMBER)):
                    member_rows.append(row)
        prefix = _member_prefix(marker)
        members = {} if prefix is None else _members_from(prefix, member_rows)
        snapshot = OptOutSnapshot(
            _groups_from(tenant_id, groups).groups, users, _membership_from(marker, members)
        )
        return snapshot, _whole(marker, members)

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
            [_entry_json(e) for e in sorted(groups.entries.values(), key=lambda e: e.group_id)],
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
        for _ in range(_READ_ATTEMPTS):
            marker = self._get(tenant_id, _MEMBERSHIP)
            prefix = _member_prefix(marker)
            if prefix is None:
                return _membership_from(marker, {})
            query = "PartitionKey eq @pk and RowKey ge @start and RowKey lt @end"
            start, end = table_batch.prefix_range(prefix)
            with translate_storage_errors():
                rows = self._table.query_entities(
                    query, parameters={"pk": tenant_id, "start": start, "end": end}
                )
                members = _members_from(prefix, rows)
            membership = _membership_from(marker, members)
            if _whole(marker, members):
                return membership
        return _unresolved(tenant_id, membership)

    def membership_of(self, tenant_id: str, user_id: str) -> GroupMembership:
        uid = user_id.lower()
        marker = self._get(tenant_id, _MEMBERSHIP)
        prefix = _member_prefix(marker)
        row = None if prefix is None else self._get(tenant_id, prefix + uid)
        return _membership_from(marker, {} if row is None else {uid: frozenset(get_json(row, "groups", []))})

    def save_membership(self, tenant_id: str, membership: GroupMembership) -> bool:
        stored = self._get(tenant_id, _MEMBERSHIP)
        resolution = _resolution_id(membership, tiebreak=uuid.uuid4().hex[:_TIEBREAK])
        if resolution <= _stored_id(stored):
            return False
        prefix = f"{_RESOLUTION}{resolution}-"
        rows = []
        for uid, groups in sorted(membership.members.items()):
            row: Entity = {"PartitionKey": tenant_id, "RowKey": prefix + uid.lower()}
            put_json(row, "groups", sorted(groups))
            rows.append(row)
        table_batch.upsert_all(self._table, rows)
        won, replaced = self._move_marker(tenant_id, membership, resolution, stored)
        if not won:
            # A newer resolution holds the marker: nobody will read these rows.
            table_batch.delete_keys(self._table, [(tenant_id, row["RowKey"]) for row in rows])
            return False
        self._delete_older_resolutions(tenant_id, resolution, keep=_member_prefix(replaced))
        return True

    def _move_marker(
        self, tenant_id: str, membership: GroupMembership, resolution: str, stored: Entity | None
    ) -> tuple[bool, Entity | None]:
        """Point the marker at `resolution` unless a newer one holds it: (whether it did, the marker it
        replaced)."""
        marker: Entity = {
            "PartitionKey": tenant_id,
            "RowKey": _MEMBERSHIP,
            "resolution": resolution,
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
                if resolution <= _stored_id(stored):
                    return False, stored
            else:
                return True, stored
        raise ConcurrencyConflict(f"the group membership of {tenant_id} kept changing while it was saved")

    def _delete_older_resolutions(self, tenant_id: str, resolution: str, keep: str | None) -> None:
        """Delete the member rows of every resolution older than `resolution`, but those that begin with
        `keep`. None of these resolutions can hold the marker again: it only moves forward."""
        query = "PartitionKey eq @pk and RowKey ge @start and RowKey lt @end"
        gone = []
        for prefix in (_LEGACY_MEMBER, _RESOLUTION):
            start, end = table_batch.prefix_range(prefix)
            for key in table_batch.query_keys(
                self._table, query, {"pk": tenant_id, "start": start, "end": end}
            ):
                row_key = key[1]
                if (keep is None or not row_key.startswith(keep)) and _resolution_of(row_key) < resolution:
                    gone.append(key)
        table_batch.delete_keys(self._table, gone)

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
            # Absent in rows written before additions kept their time: such a group is kept by no older form.
            addition_time=parse_iso(item.get("additionTime")),
        )
    groups = GroupOptOuts(
        tenant_id=tenant_id,
        entries=entries,
        last_event_time=parse_iso(row.get("lastEventTime")),
        last_event_id=row.get("lastEventId") or None,
        version=int(row.get("version", 0)),
    )
    return StoredGroups(groups, etag_of(row))


def _entry_json(entry: GroupOptOut) -> dict[str, str]:
    item = {
        "groupId": entry.group_id, "source": entry.source, "addedAt": iso(entry.added_at),
        "eventId": entry.event_id,
    }  # fmt: skip
    if entry.addition_time is not None:
        item["additionTime"] = iso(entry.addition_time)
    return item


def _membership_from(marker: Entity | None, members: dict[str, frozenset[str]]) -> GroupMembership:
    if marker is None:
        return GroupMembership(members=members)  # never resolved: covers no group
    return GroupMembership(
        groups=frozenset(get_json(marker, "groups", [])),
        members=members,
        groups_version=int(marker.get("groupsVersion", -1)),
        resolved_at=parse_iso(marker.get("resolvedAt")),
    )


_TIEBREAK = 12  # hex digits: two resolutions of one list made in the same microsecond are still ordered
_ID_LENGTH = 10 + 1 + 20 + 1 + _TIEBREAK


def _resolution_id(membership: GroupMembership, tiebreak: str) -> str:
    """`{groupsVersion}.{resolvedAt}.{tiebreak}`, fixed width, so that IDs sort as `GroupMembership.order`."""
    version, at = membership.order
    if version < 0:
        raise ValueError("a resolution resolves a version of the group list")
    stamp = at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    return f"{version:010d}.{''.join(c for c in stamp if c.isdigit())}.{tiebreak}"


def _stored_id(marker: Entity | None) -> str:
    """The ID of the resolution a marker names ("" for none: any resolution is newer). A marker of the layout
    before IDs is given the ID its fields say, with the lowest tie-break."""
    if marker is None:
        return ""
    if marker.get("resolution"):
        return str(marker["resolution"])
    legacy = _membership_from(marker, {})
    if legacy.groups_version < 0:
        return ""
    return _resolution_id(legacy, tiebreak="")


def _member_prefix(marker: Entity | None) -> str | None:
    """How the RowKeys of the member rows of the resolution a marker names begin (None: no resolution)."""
    if marker is None:
        return None
    if marker.get("resolution"):
        return f"{_RESOLUTION}{marker['resolution']}-"
    return _LEGACY_MEMBER


def _resolution_of(row_key: str) -> str:
    """The ID of the resolution a member row belongs to ("" for a row of the layout before IDs)."""
    if row_key.startswith(_RESOLUTION):
        return row_key[len(_RESOLUTION) : len(_RESOLUTION) + _ID_LENGTH]
    return ""


def _whole(marker: Entity | None, members: dict[str, frozenset[str]]) -> bool:
    """Whether a read found every member row of the resolution its marker names. Fewer rows than the marker
    counts: two saves replaced that resolution between the read of the marker and that of its rows (a save
    keeps the rows of the one resolution it replaced, not older ones), and a member missing would be taken
    for someone in no group."""
    return marker is None or len(members) >= int(marker.get("memberCount", 0))


def _unresolved(tenant_id: str, membership: GroupMembership) -> GroupMembership:
    """What a read that kept finding a resolution incomplete answers: the members it found, and no group
    resolved, so that everyone else is `membership-unknown` (fail closed) until the next read."""
    logger.warning("optouts: the group membership of %s kept changing while it was read", tenant_id)
    return GroupMembership(members=membership.members, groups_version=membership.groups_version)


def _members_from(prefix: str, rows: Iterable[Entity]) -> dict[str, frozenset[str]]:
    return {
        str(row["RowKey"]).removeprefix(prefix): frozenset(get_json(row, "groups", []))
        for row in rows
        if str(row["RowKey"]).startswith(prefix)
    }


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
