"""Ingestion windows and cursors: which (user, window) work items a scheduling run queues, pure rules.

A user never ingested gets the backfill: the last 365 days as 12 windows of equal length (`backfill-00`
oldest ... `backfill-11` ending at the scheduling time), each its own queue message. Once every backfill
window has landed, each run queues one `incremental` window: mail through Graph delta (the delta link is
kept in the cursor) and the calendar from the end of the last successful window (less an overlap, so a
meeting edited around the boundary is read again; re-reading writes the same keys).

The newest window (`backfill-11`, then each `incremental`) also reads the calendar `CALENDAR_LOOKAHEAD`
ahead: the meetings planned with a contact, from which the insights show the next one. A plan can be moved or
cancelled, so each such read replaces the user's stored plans: a planned meeting it no longer shows is
dropped (`reads_ahead`, functions/services/ingestion.py).

A cursor is the state of one (user, window): `queued` → `running` (with `started_at`, the instant the purge
fences on) → `succeeded` | `failed` (retried by the host, then re-queued by the next run) | `skipped` (the
user or mailbox is gone, or the user became excluded) | `revoked` (consent or exclusion changed while the
window ran: what it wrote was taken back). While any included user has a failed window, insights are
`partial`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

WindowStatus = Literal["queued", "running", "succeeded", "failed", "skipped", "revoked"]
WINDOW_STATUSES: tuple[WindowStatus, ...] = ("queued", "running", "succeeded", "failed", "skipped", "revoked")

BACKFILL_WINDOWS = 12
BACKFILL_SPAN = timedelta(days=365)
INCREMENTAL = "incremental"
CALENDAR_OVERLAP = timedelta(days=1)
CALENDAR_LOOKAHEAD = timedelta(days=90)
# A queued or running window older than this lost its message (or its worker): queue it again.
STALE_AFTER = timedelta(hours=6)
DONE: frozenset[str] = frozenset(("succeeded", "skipped"))


def backfill_name(index: int) -> str:
    return f"backfill-{index:02d}"


@dataclass(frozen=True, slots=True)
class Window:
    name: str  # backfill-00 .. backfill-11, or incremental
    start: datetime
    end: datetime | None  # None: up to the time the window runs (incremental)


def reads_ahead(window: str) -> bool:
    """Whether the window reads the calendar ahead of its end (the newest window of a user does)."""
    return window in (INCREMENTAL, backfill_name(BACKFILL_WINDOWS - 1))


def backfill_windows(now: datetime) -> list[Window]:
    """The 12 backfill windows of the 365 days up to `now`, oldest first; the last one ends at `now`."""
    first = now - BACKFILL_SPAN
    length = BACKFILL_SPAN / BACKFILL_WINDOWS
    return [
        Window(
            backfill_name(i),
            first + length * i,
            now if i == BACKFILL_WINDOWS - 1 else first + length * (i + 1),
        )
        for i in range(BACKFILL_WINDOWS)
    ]


@dataclass(frozen=True, slots=True)
class Cursor:
    tenant_id: str
    user_id: str
    window: str
    start: datetime
    end: datetime | None
    status: WindowStatus
    updated_at: datetime
    run_id: str = ""
    started_at: datetime | None = None  # when the current/last run of the window began (the fence)
    finished_at: datetime | None = None
    attempts: int = 0
    counts: Mapping[str, int] = field(default_factory=dict)
    delta_link: str | None = None  # incremental only: the mail delta cursor for the next round
    error: str | None = None  # a short reason (an error class and status), never mailbox data


@dataclass(frozen=True, slots=True)
class UserProfile:
    """What the last scheduling run saw of an included user in the directory: the names who knows whom shows.

    Kept for included users only: of an excluded user (opted out, or in an opted-out group) nothing from the
    directory is kept; what keeps them excluded is in the opt-out store (their opt-out, or their resolved
    group membership).
    """

    tenant_id: str
    user_id: str
    display_name: str
    mail: str
    user_principal_name: str
    present: bool  # still in the directory at the last scheduling run
    seen_at: datetime


def windows_to_queue(cursors: Iterable[Cursor], now: datetime) -> list[Window]:
    """What one scheduling run queues for one included user with a mailbox, given the user's cursors.

    No cursor: the 12 backfill windows. Backfill windows that failed, or have been queued/running for
    longer than `STALE_AFTER`, again. Once every backfill window is done: the incremental window, unless
    one is already queued or running (and not stale).
    """
    backfill, incremental = _split(cursors)
    if not backfill:
        return backfill_windows(now)
    again = [
        Window(c.window, c.start, c.end)
        for c in sorted(backfill, key=lambda c: c.window)
        if c.status == "failed" or _stale(c, now) or c.status == "revoked"
    ]
    if again or not _backfill_landed(backfill):
        return again
    if (
        incremental is not None
        and incremental.status in ("queued", "running")
        and not _stale(incremental, now)
    ):
        return []
    return [Window(INCREMENTAL, incremental_since(backfill, incremental), None)]


def incremental_since(backfill: Iterable[Cursor], incremental: Cursor | None) -> datetime:
    """Where the next incremental window starts: the end of the last window that landed."""
    if incremental is not None and incremental.status == "succeeded" and incremental.end is not None:
        return incremental.end
    if incremental is not None and incremental.start is not None and incremental.status != "succeeded":
        return incremental.start
    return max(c.end or c.start for c in backfill)


def _split(cursors: Iterable[Cursor]) -> tuple[list[Cursor], Cursor | None]:
    """A user's backfill cursors, and their incremental one."""
    by_name = {c.window: c for c in cursors}
    return [c for name, c in by_name.items() if name.startswith("backfill-")], by_name.get(INCREMENTAL)


def _backfill_landed(backfill: list[Cursor]) -> bool:
    """Every backfill window is done: from then on the user is read by delta rounds, scheduled or notified."""
    return bool(backfill) and all(c.status in DONE for c in backfill)


def _stale(cursor: Cursor, now: datetime) -> bool:
    return cursor.status in ("queued", "running") and now - cursor.updated_at > STALE_AFTER


def is_partial(cursors: Iterable[Cursor], included: Callable[[str], bool]) -> bool:
    """Insights are partial while an included user's window is failing."""
    return any(c.status == "failed" and included(c.user_id) for c in cursors)


RefreshOutcome = Literal["not-ready", "busy"]


def refresh_window(cursors: Iterable[Cursor], now: datetime) -> Window | RefreshOutcome:
    """The delta round a change notification asks for, given the user's cursors: the incremental window,
    from where the last window landed. `not-ready` until every backfill window has landed (the backfill
    reads the change anyway); `busy` while an incremental round runs (it may have read past the change
    already, so ask again after it)."""
    backfill, incremental = _split(cursors)
    if not _backfill_landed(backfill):
        return "not-ready"
    if incremental is not None and incremental.status == "running" and not _stale(incremental, now):
        return "busy"
    return Window(INCREMENTAL, incremental_since(backfill, incremental), None)
