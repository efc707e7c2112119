"""Opt-outs: the tenant's opted-out security groups and each user's own choice.

Two kinds of subject for the out-of-order rule: the group list of a tenant (one ordering key) and each user's
opt-out (one key per user). The group list is replaced as a whole by the admin form; a grant and the legacy
migration only ever add to it (an addition never un-excludes anyone, so it needs no ordering check).

Who is excluded is not decided here: `functions.domain.inclusion` makes that one decision from these lists,
the resolved group membership, the consent and the unfinished purges.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from functions.domain.events import Outcome, Provenance, is_stale, latest

GroupSource = Literal["admin", "consent-grant", "legacy-migration"]
# What happens to data a group opt-out covers (setting GROUP_OPTOUT_EXISTING_DATA): purged like a user
# opt-out, or kept with only future collection stopped.
GroupOptOutPolicy = Literal["purge", "retain"]


@dataclass(frozen=True, slots=True)
class GroupOptOut:
    group_id: str
    source: GroupSource
    added_at: datetime
    event_id: str


@dataclass(frozen=True, slots=True)
class GroupOptOuts:
    tenant_id: str
    entries: Mapping[str, GroupOptOut] = field(default_factory=dict)
    last_event_time: datetime | None = None
    last_event_id: str | None = None
    version: int = 0

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(self.entries)


@dataclass(frozen=True, slots=True)
class UserOptOut:
    tenant_id: str
    user_id: str
    opted_out: bool
    changed: Provenance  # the change that set `opted_out` to its current value
    last_event_time: datetime  # the subject's ordering key (an unchanged re-statement moves it too)
    last_event_id: str
    purge_id: str | None = None  # the purge started by the latest opt-out


@dataclass(frozen=True, slots=True)
class GroupsTransition:
    groups: GroupOptOuts
    outcome: Outcome
    added: frozenset[str] = frozenset()
    removed: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class UserTransition:
    user: UserOptOut | None
    outcome: Outcome
    purge_id: str | None = None  # set when this change (or its duplicate) goes with a user purge

    @property
    def changed(self) -> bool:
        return self.outcome == "applied"


def replace_groups(
    current: GroupOptOuts, group_ids: Iterable[str], provenance: Provenance
) -> GroupsTransition:
    """The admin form: the list becomes exactly `group_ids` (kept entries keep their source and time)."""
    wanted = frozenset(group_ids)
    if provenance.ordered and provenance.event_id == current.last_event_id:
        return GroupsTransition(current, "duplicate")
    if provenance.ordered and is_stale(current.last_event_time, provenance.event_time):
        return GroupsTransition(current, "stale")
    added, removed = wanted - current.ids, current.ids - wanted
    entries = {g: e for g, e in current.entries.items() if g in wanted}
    entries.update({g: _entry(g, "admin", provenance) for g in added})
    changed = bool(added or removed)
    updated = replace(
        current,
        entries=entries,
        last_event_time=latest(current.last_event_time, provenance.event_time),
        last_event_id=provenance.event_id,
        version=current.version + (1 if changed else 0),
    )
    return GroupsTransition(updated, "applied" if changed else "unchanged", added, removed)


def add_groups(
    current: GroupOptOuts, group_ids: Iterable[str], source: GroupSource, provenance: Provenance
) -> GroupsTransition:
    """Union `group_ids` into the list (a grant's groups, or migrated legacy groups)."""
    added = frozenset(group_ids) - current.ids
    if not added:
        return GroupsTransition(current, "unchanged")
    updated = replace(
        current,
        entries={**current.entries, **{g: _entry(g, source, provenance) for g in added}},
        # A later-arriving replace older than this addition must not drop what was just added.
        last_event_time=latest(current.last_event_time, provenance.event_time),
        version=current.version + 1,
    )
    return GroupsTransition(updated, "applied", added)


def change_user(
    current: UserOptOut | None,
    *,
    tenant_id: str,
    user_id: str,
    opted_out: bool,
    provenance: Provenance,
    purge_id: str,
) -> UserTransition:
    """A user opts out (a user purge, `purge_id`, goes with it) or back in.

    Opting out again while opted out changes nothing and points at the purge already started.
    """
    if current is not None and provenance.ordered:
        if provenance.event_id == current.last_event_id:
            return UserTransition(current, "duplicate", current.purge_id if current.opted_out else None)
        if is_stale(current.last_event_time, provenance.event_time):
            return UserTransition(current, "stale")
    if current is not None and current.opted_out == opted_out:
        restated = replace(
            current,
            last_event_time=latest(current.last_event_time, provenance.event_time),
            last_event_id=provenance.event_id,
        )
        return UserTransition(restated, "unchanged", current.purge_id if opted_out else None)
    updated = UserOptOut(
        tenant_id=tenant_id,
        user_id=user_id,
        opted_out=opted_out,
        changed=provenance,
        last_event_time=(
            provenance.event_time
            if current is None
            else latest(current.last_event_time, provenance.event_time)
        ),
        last_event_id=provenance.event_id,
        purge_id=purge_id if opted_out else (current.purge_id if current else None),
    )
    return UserTransition(updated, "applied", purge_id if opted_out else None)


def _entry(group_id: str, source: GroupSource, provenance: Provenance) -> GroupOptOut:
    return GroupOptOut(group_id, source, provenance.recorded_at, provenance.event_id)
