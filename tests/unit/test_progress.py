"""Ingestion progress as an administrator sees it (functions/domain/progress.py): how far the backfill is,
who is failing, whether the insights are complete, and that nobody who is out is counted or named."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from functions.domain.consent import TenantConsent, grant, revoke
from functions.domain.events import Provenance
from functions.domain.inclusion import GroupMembership, TenantInclusion
from functions.domain.ingestion import (
    BACKFILL_WINDOWS,
    INCREMENTAL,
    Cursor,
    WindowStatus,
    backfill_name,
    backfill_windows,
)
from functions.domain.optouts import GroupOptOuts, UserOptOut, change_user, replace_groups
from functions.domain.progress import ingestion_progress

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
TENANT = str(uuid.uuid4())
ALICE, BOB, CAROL = (str(uuid.uuid4()) for _ in range(3))
SALES = str(uuid.uuid4())


def change(at: datetime = T0) -> Provenance:
    return Provenance("admin", f"evt-{uuid.uuid4()}", at, "webhook", at)


GRANTED = grant(TenantConsent(TENANT), change()).consent
NO_GROUPS = GroupOptOuts(TENANT)
RESOLVED_NOTHING = GroupMembership(groups=frozenset(), groups_version=0)


def inclusion(
    *,
    consent: TenantConsent = GRANTED,
    listed: GroupOptOuts = NO_GROUPS,
    out: tuple[str, ...] = (),
    membership: GroupMembership = RESOLVED_NOTHING,
) -> TenantInclusion:
    users: list[UserOptOut] = []
    for user_id in out:
        user = change_user(
            None, tenant_id=TENANT, user_id=user_id, opted_out=True, provenance=change(), purge_id="p"
        ).user
        assert user is not None
        users.append(user)
    return TenantInclusion.of(consent, listed, users, membership, (), T0)


def backfill(
    user_id: str, *, done: int, status: WindowStatus = "queued", started: datetime = T0
) -> list[Cursor]:
    """A user's 12 backfill windows: the first `done` succeeded (one an hour after `started`), the rest in
    `status`."""
    cursors = []
    for index, window in enumerate(backfill_windows(started)):
        landed = index < done
        cursors.append(
            Cursor(
                TENANT,
                user_id,
                window.name,
                window.start,
                window.end,
                "succeeded" if landed else status,
                updated_at=started + (index + 1) * HOUR if landed else started,
                started_at=started,
                attempts=1,
                finished_at=started + (index + 1) * HOUR if landed else None,
                error="GraphThrottled 429" if status == "failed" and not landed else None,
            )
        )
    return cursors


def test_a_tenant_with_no_cursor_yet_has_not_started() -> None:
    progress = ingestion_progress(TENANT, [], inclusion(), T0)
    assert (progress.phase, progress.users, progress.windows, progress.windows_done) == (
        "not-started",
        0,
        0,
        0,
    )
    assert progress.accuracy == "complete"


def test_the_backfill_counts_twelve_windows_per_user_and_those_done() -> None:
    cursors = backfill(ALICE, done=BACKFILL_WINDOWS) + backfill(BOB, done=3)
    progress = ingestion_progress(TENANT, cursors, inclusion(), T0 + 12 * HOUR)
    assert (progress.phase, progress.users, progress.users_backfilled) == ("backfilling", 2, 1)
    assert (progress.windows, progress.windows_done) == (24, 15)
    assert progress.statuses == {"queued": 9, "succeeded": 15}


def test_once_every_backfill_window_landed_the_tenant_is_current() -> None:
    cursors = backfill(ALICE, done=BACKFILL_WINDOWS) + backfill(BOB, done=BACKFILL_WINDOWS)
    progress = ingestion_progress(TENANT, cursors, inclusion(), T0 + 12 * HOUR)
    assert (progress.phase, progress.windows_done, progress.estimated_backfill_end) == ("current", 24, None)


def test_the_newest_incremental_window_that_landed_is_reported() -> None:
    incremental = Cursor(
        TENANT, ALICE, INCREMENTAL, T0, T0 + 2 * HOUR, "succeeded", T0 + 2 * HOUR, finished_at=T0 + 2 * HOUR
    )
    progress = ingestion_progress(
        TENANT, [*backfill(ALICE, done=12), incremental], inclusion(), T0 + 3 * HOUR
    )
    assert progress.last_incremental_at == T0 + 2 * HOUR
    assert progress.windows == BACKFILL_WINDOWS  # the incremental window is not a backfill window


def test_the_end_of_the_backfill_is_estimated_from_the_rate_so_far() -> None:
    # 6 of 12 windows in 3 hours: 6 more take 3 more hours
    progress = ingestion_progress(TENANT, backfill(ALICE, done=6), inclusion(), T0 + 3 * HOUR)
    assert progress.backfill_started_at == T0
    assert progress.estimated_backfill_end == T0 + 6 * HOUR


def test_no_estimate_is_made_before_a_window_has_landed() -> None:
    progress = ingestion_progress(TENANT, backfill(ALICE, done=0), inclusion(), T0 + HOUR)
    assert progress.estimated_backfill_end is None


def test_a_failing_user_is_named_with_the_failed_windows_and_the_insights_are_partial() -> None:
    cursors = backfill(ALICE, done=10, status="failed") + backfill(BOB, done=12)
    progress = ingestion_progress(TENANT, cursors, inclusion(), T0 + 12 * HOUR)
    (failing,) = progress.failing
    assert failing.user_id == ALICE
    assert failing.windows == (backfill_name(10), backfill_name(11))
    assert (failing.error, failing.attempts) == ("GraphThrottled 429", 1)
    assert progress.accuracy == "partial"


def test_a_user_who_opted_out_is_neither_counted_nor_named_even_while_failing() -> None:
    cursors = backfill(ALICE, done=2, status="failed") + backfill(BOB, done=12)
    progress = ingestion_progress(TENANT, cursors, inclusion(out=(ALICE,)), T0 + 12 * HOUR)
    assert (progress.users, progress.windows, progress.failing) == (1, 12, ())
    assert progress.hidden_cursors == BACKFILL_WINDOWS
    assert progress.accuracy == "complete"


def test_while_group_membership_is_unknown_the_progress_says_so_and_is_partial() -> None:
    listed = replace_groups(NO_GROUPS, [SALES], change()).groups
    progress = ingestion_progress(TENANT, backfill(ALICE, done=12), inclusion(listed=listed), T0 + 12 * HOUR)
    assert progress.membership_pending
    assert progress.users == 0  # nobody whose membership is unknown is counted
    assert progress.accuracy == "partial"


def test_a_tenant_that_withdrew_is_off_and_shows_no_user() -> None:
    revoked = revoke(GRANTED, change(T0 + HOUR), "purge-1").consent
    progress = ingestion_progress(TENANT, backfill(ALICE, done=12), inclusion(consent=revoked), T0 + 2 * HOUR)
    assert (progress.phase, progress.reason, progress.users) == ("off", "consent-revoked", 0)
    assert not progress.membership_pending


@given(
    done=st.lists(st.integers(0, BACKFILL_WINDOWS), min_size=3, max_size=3),
    failing=st.lists(st.booleans(), min_size=3, max_size=3),
    out=st.lists(st.booleans(), min_size=3, max_size=3),
)
def test_whoever_is_out_never_appears_and_the_counts_cover_exactly_those_included(
    done: list[int], failing: list[bool], out: list[bool]
) -> None:
    users = (ALICE, BOB, CAROL)
    cursors = [
        cursor
        for user, n, fails in zip(users, done, failing, strict=True)
        for cursor in backfill(user, done=n, status="failed" if fails else "running")
    ]
    excluded = tuple(u for u, o in zip(users, out, strict=True) if o)
    progress = ingestion_progress(TENANT, cursors, inclusion(out=excluded), T0 + 24 * HOUR)
    kept = [(u, n) for u, n, o in zip(users, done, out, strict=True) if not o]
    assert progress.users == len(kept)
    assert progress.windows_done == sum(n for _, n in kept)
    assert {f.user_id.lower() for f in progress.failing}.isdisjoint(u.lower() for u in excluded)
    assert progress.hidden_cursors == BACKFILL_WINDOWS * len(excluded)
    assert sum(progress.statuses.values()) == BACKFILL_WINDOWS * len(kept)


def test_counts_are_the_same_whatever_the_order_of_the_cursors() -> None:
    cursors = backfill(ALICE, done=5, status="failed") + backfill(BOB, done=7)
    forward = ingestion_progress(TENANT, cursors, inclusion(), T0 + 9 * HOUR)
    backward = ingestion_progress(TENANT, list(reversed(cursors)), inclusion(), T0 + 9 * HOUR)
    assert forward == backward
