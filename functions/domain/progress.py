"""Ingestion progress of a tenant, as an administrator sees it: how far the one-year backfill is, who is
failing, and whether the insights are complete.

Pure: the cursors and the inclusion decision are given. Only included users are counted or named: the
cursors of a user who is out (and whose purge is still deleting them) say nothing here, not even a count
per person, only how many such cursors there are.

The estimate of when the backfill ends is the rate so far (backfill windows landed since the first one
started) carried over the windows left; it is absent until a window has landed, and once it is done.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from functions.domain.inclusion import Reason, TenantInclusion
from functions.domain.ingestion import BACKFILL_WINDOWS, DONE, INCREMENTAL, Cursor, WindowStatus

Phase = Literal["off", "not-started", "backfilling", "current"]
Accuracy = Literal["complete", "partial"]


@dataclass(frozen=True, slots=True)
class FailingUser:
    user_id: str
    windows: tuple[str, ...]  # the user's failed windows, by name
    attempts: int  # the most attempts among them
    error: str | None  # the latest reason (an error class and status, never mailbox data)
    since: datetime  # when the earliest of them last changed


@dataclass(frozen=True, slots=True)
class IngestionProgress:
    tenant_id: str
    phase: Phase
    reason: Reason  # why the tenant is off, or "included"
    users: int  # included users with a mailbox being ingested
    users_backfilled: int  # ... whose 12 backfill windows are all done
    windows: int  # backfill windows of those users (12 each)
    windows_done: int
    statuses: dict[str, int]  # backfill and incremental windows of included users, by status
    failing: tuple[FailingUser, ...]
    membership_pending: bool  # group opt-outs not yet resolved: users of unknown membership are not counted
    hidden_cursors: int  # cursors of users who are out (deleted by their purge)
    backfill_started_at: datetime | None
    estimated_backfill_end: datetime | None
    last_incremental_at: datetime | None  # the newest incremental window that landed

    @property
    def accuracy(self) -> Accuracy:
        """What the insights say of themselves: partial while anyone included is failing or unknown."""
        return "partial" if self.failing or self.membership_pending else "complete"


def ingestion_progress(
    tenant_id: str, cursors: Iterable[Cursor], inclusion: TenantInclusion, now: datetime
) -> IngestionProgress:
    all_cursors = list(cursors)
    kept = [c for c in all_cursors if inclusion.includes(c.user_id)]
    backfill = [c for c in kept if c.window != INCREMENTAL]
    by_user: dict[str, list[Cursor]] = {}
    for cursor in backfill:
        by_user.setdefault(cursor.user_id, []).append(cursor)
    backfilled = sum(1 for own in by_user.values() if _backfilled(own))
    windows = BACKFILL_WINDOWS * len(by_user)
    done = sum(1 for c in backfill if c.status in DONE)
    started = min((c.started_at for c in backfill if c.started_at is not None), default=None)
    tenant = inclusion.tenant_decision()
    return IngestionProgress(
        tenant_id=tenant_id,
        phase=_phase(tenant.included, len(by_user), backfilled),
        reason=tenant.reason,
        users=len(by_user),
        users_backfilled=backfilled,
        windows=windows,
        windows_done=done,
        statuses=_statuses(kept),
        failing=_failing(kept),
        membership_pending=tenant.included and not inclusion.membership_fresh,
        hidden_cursors=len(all_cursors) - len(kept),
        backfill_started_at=started,
        estimated_backfill_end=_estimate(started, done, windows, now),
        last_incremental_at=max(
            (
                c.finished_at
                for c in kept
                if c.window == INCREMENTAL and c.status == "succeeded" and c.finished_at
            ),
            default=None,
        ),
    )


def _backfilled(cursors: list[Cursor]) -> bool:
    return len(cursors) >= BACKFILL_WINDOWS and all(c.status in DONE for c in cursors)


def _phase(on: bool, users: int, backfilled: int) -> Phase:
    if not on:
        return "off"
    if users == 0:
        return "not-started"
    return "current" if backfilled == users else "backfilling"


def _statuses(cursors: list[Cursor]) -> dict[str, int]:
    counted: Counter[WindowStatus] = Counter(c.status for c in cursors)
    return {status: counted[status] for status in sorted(counted)}


def _failing(cursors: list[Cursor]) -> tuple[FailingUser, ...]:
    failed: dict[str, list[Cursor]] = {}
    for cursor in cursors:
        if cursor.status == "failed":
            failed.setdefault(cursor.user_id, []).append(cursor)
    return tuple(
        FailingUser(
            user_id=user_id,
            windows=tuple(sorted(c.window for c in own)),
            attempts=max(c.attempts for c in own),
            error=max(own, key=lambda c: c.updated_at).error,
            since=min(c.updated_at for c in own),
        )
        for user_id, own in sorted(failed.items())
    )


def _estimate(started: datetime | None, done: int, total: int, now: datetime) -> datetime | None:
    if started is None or done == 0 or done >= total or now <= started:
        return None
    per_window = (now - started) / done
    return now + per_window * (total - done)
