"""Opt-outs: the tenant's opted-out security groups and each user's own choice.

Two kinds of subject for the out-of-order rule: the group list of a tenant and each user's opt-out (one key
per user). Whatever order their events arrive in, the result is the one of applying them in the order they
were made (functions/domain/events.py).

The group list is replaced as a whole by the admin form; a grant and the legacy migration add to it. In the
order they were made, a replacement at time t leaves exactly its groups plus those that additions named at or
after t. So the list's ordering key is the time of the newest replacement (`last_event_time`) and each entry
remembers the newest addition that named it (`GroupOptOut.addition_time`): a replacement older than the newest
one is stale; one that arrives after a newer addition keeps what that addition named; an addition older than
the newest replacement is stale (the form that came after it decided the list). Additions alone never move
the key: when they did, an earlier replacement arriving after a grant's groups was stale, and the groups it
opted out were lost. Two replacements made in the same instant both count (the exclusion wins a tie).

A stale opt-out changes no state but still carries its purge (`UserTransition.purge_id`), as a stale
replacement carries the groups it would have opted out (`GroupsTransition.implied`): made before the newer
change, it covered the data collected until then, and in the order of events that data was purged.

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
    # The event time of the newest addition (a grant's groups, a legacy migration) that named the group: a
    # replacement made before it keeps the group. None when only the admin form listed it.
    addition_time: datetime | None = None

    def outlives(self, replaced_at: datetime) -> bool:
        """Whether a replacement made at `replaced_at` keeps this group even if its form does not list it."""
        return self.addition_time is not None and self.addition_time >= replaced_at


@dataclass(frozen=True, slots=True)
class GroupOptOuts:
    tenant_id: str
    entries: Mapping[str, GroupOptOut] = field(default_factory=dict)
    last_event_time: datetime | None = None  # of the newest replacement: the ordering key of replacements
    last_event_id: str | None = None
    version: int = 0  # moves when the list of IDs changes

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
    # A stale replacement: the groups it lists that the list does not, which it opted out when it was made
    # (their purge is still due; a group in the list had its purge when it was added).
    implied: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class UserTransition:
    user: UserOptOut | None
    outcome: Outcome
    purge_id: str | None = None  # set when this opt-out (or its duplicate, or a stale one) goes with a purge

    @property
    def changed(self) -> bool:
        return self.outcome == "applied"


def replace_groups(
    current: GroupOptOuts, group_ids: Iterable[str], provenance: Provenance
) -> GroupsTransition:
    """The admin form: the list becomes `group_ids` plus the groups that additions made at or after the form
    named (kept entries keep their source and time). See the module docstring for the order.

    Outcome `stale` also when the form changes no group because every group it would remove was named by a
    newer addition: it is older than the list's last change. Its time is still kept as the newest
    replacement's, so that an older form arriving later is stale, as it would be in order.

    An administrator's REST call acts now and is not ordered (`Provenance.ordered`): the list becomes
    exactly its groups.
    """
    wanted = frozenset(group_ids)
    if provenance.ordered and provenance.event_id == current.last_event_id:
        return GroupsTransition(current, "duplicate")
    at = provenance.event_time
    if provenance.ordered and is_stale(current.last_event_time, at):
        return GroupsTransition(current, "stale", implied=wanted - current.ids)
    # A form saved in the same instant as the newest one: neither takes the other's groups back.
    tie = current.last_event_time == at
    entries = {
        g: e
        for g, e in current.entries.items()
        if g in wanted or (provenance.ordered and (tie or e.outlives(at)))
    }
    added, removed = wanted - current.ids, current.ids - entries.keys()
    entries.update({g: _entry(g, "admin", provenance) for g in added})
    changed = bool(added or removed)
    updated = replace(
        current,
        entries=entries,
        last_event_time=latest(current.last_event_time, at),
        last_event_id=provenance.event_id,
        version=current.version + (1 if changed else 0),
    )
    if changed:
        return GroupsTransition(updated, "applied", added, removed)
    overridden = not tie and any(g not in wanted for g in entries)
    return GroupsTransition(updated, "stale" if overridden else "unchanged")


def add_groups(
    current: GroupOptOuts, group_ids: Iterable[str], source: GroupSource, provenance: Provenance
) -> GroupsTransition:
    """Union `group_ids` into the list (a grant's groups, or migrated legacy groups), unless the newest
    replacement was made after them (`stale`: that form decided the list). Groups already listed remember
    this addition's time, so an older form arriving later keeps them."""
    wanted = frozenset(group_ids)
    at = provenance.event_time
    if wanted and provenance.ordered and is_stale(current.last_event_time, at):
        return GroupsTransition(current, "stale")
    added = wanted - current.ids
    entries = dict(current.entries)
    for g in wanted - added:
        entry = entries[g]
        if entry.addition_time is None or entry.addition_time < at:
            entries[g] = replace(entry, addition_time=at)
    entries.update({g: _entry(g, source, provenance, addition=True) for g in added})
    updated = replace(current, entries=entries, version=current.version + (1 if added else 0))
    return GroupsTransition(updated, "applied" if added else "unchanged", added)


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
        # An opt-in made in the same instant as the opt-out in force yields to it, whichever came first.
        yields = current.opted_out and not opted_out
        if is_stale(current.last_event_time, provenance.event_time, yields=yields):
            if not opted_out:
                return UserTransition(current, "stale")
            # Stale, but its purge is due: the purge of the opt-out in force (it covers everything collected
            # before it, and nothing has been since), else the one the caller names (an unfinished purge of
            # the user, reused as an in-order opt-out would, or its own).
            in_force = current.purge_id if current.opted_out else None
            return UserTransition(current, "stale", in_force or purge_id)
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


def _entry(
    group_id: str, source: GroupSource, provenance: Provenance, *, addition: bool = False
) -> GroupOptOut:
    addition_time = provenance.event_time if addition else None
    return GroupOptOut(group_id, source, provenance.recorded_at, provenance.event_id, addition_time)
