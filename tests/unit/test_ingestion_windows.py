"""Which windows a scheduling run queues for a user (functions/domain/ingestion.py)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from functions.domain.ingestion import (
    BACKFILL_SPAN,
    STALE_AFTER,
    Cursor,
    WindowStatus,
    backfill_windows,
    is_partial,
    windows_to_queue,
)

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def backfill(status: WindowStatus = "succeeded", at: datetime = NOW) -> list[Cursor]:
    return [Cursor("t", "u", w.name, w.start, w.end, status, at) for w in backfill_windows(NOW)]


def test_the_backfill_is_twelve_contiguous_windows_covering_the_last_year() -> None:
    windows = backfill_windows(NOW)
    assert len(windows) == 12
    assert windows[0].start == NOW - BACKFILL_SPAN
    assert windows[-1].end == NOW
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))


def test_a_user_without_cursors_gets_the_backfill() -> None:
    assert [w.name for w in windows_to_queue([], NOW)] == [w.name for w in backfill_windows(NOW)]


def test_windows_still_waiting_are_not_queued_again() -> None:
    assert windows_to_queue(backfill("queued"), NOW + timedelta(hours=1)) == []


def test_failed_and_stale_windows_are_queued_again() -> None:
    cursors = backfill()
    cursors[2] = replace(cursors[2], status="failed")
    cursors[5] = replace(cursors[5], status="running", updated_at=NOW - STALE_AFTER - timedelta(minutes=1))
    assert [w.name for w in windows_to_queue(cursors, NOW)] == ["backfill-02", "backfill-05"]


def test_a_landed_backfill_is_followed_by_an_incremental_window_from_its_end() -> None:
    (window,) = windows_to_queue(backfill(), NOW + timedelta(days=1))
    assert (window.name, window.start, window.end) == ("incremental", NOW, None)


def test_the_next_incremental_window_starts_where_the_last_one_ended() -> None:
    done = Cursor("t", "u", "incremental", NOW, NOW + timedelta(days=1), "succeeded", NOW + timedelta(days=1))
    (window,) = windows_to_queue([*backfill(), done], NOW + timedelta(days=2))
    assert window.start == NOW + timedelta(days=1)


def test_results_are_partial_only_while_an_included_user_has_a_failed_window() -> None:
    failed = replace(backfill()[0], status="failed")
    assert is_partial([failed], lambda _user: True)
    assert not is_partial([failed], lambda user: user != "u")
    assert not is_partial(backfill(), lambda _user: True)
