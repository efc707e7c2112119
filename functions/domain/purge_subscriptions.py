"""A purge's side at Microsoft Graph: the scope's change-notification subscriptions, removed when Graph lets
us and never in the way of the stored data's deletion (functions/services/subscription_purge.py does the
removing; functions/domain/purge.py keeps where it stands on the record, `PurgeRecord.graph_subscriptions`).

Graph is down, or refuses us because the customer removed the app, exactly when a withdrawal must still be
honoured. What Graph would not remove is kept on the record (Graph's subscription IDs and expiries), and a
purge whose stored data is verified gone waits as `swept`, asking Graph again every `SUBSCRIPTION_RETRY`,
until Graph confirms (`removed`) or every subscription it could not remove has expired (`expired`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

SubscriptionsState = Literal["pending", "removed", "expired"]
# How long a purge that Graph would not let remove its subscriptions waits before asking again.
SUBSCRIPTION_RETRY = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class PendingSubscription:
    """A subscription of the scope that Graph has not confirmed deleted: Graph's ID (no subject data), and
    the expiry after which Graph delivers nothing for it."""

    subscription_id: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SubscriptionAttempt:
    """What one attempt to remove a purge's subscriptions at Graph did
    (functions/services/subscription_purge.py)."""

    deleted: int  # deleted at Graph (or found already gone) by this attempt
    remaining: tuple[PendingSubscription, ...]  # known to be of the scope and not deleted
    listed: bool  # Graph listed the tenant's subscriptions: none of the scope was unknown to the attempt
    verified: bool  # after the deletions, Graph's own listing held none of the scope
    error: str | None = None  # why not verified: the error's class, never its message


@dataclass(frozen=True, slots=True)
class GraphSubscriptions:
    """Where a purge stands with the scope's subscriptions at Graph (the app's rows of them are a store like
    any other). `removed`: Graph listed none of the scope after the deletions. `pending`: Graph could not be
    reached or refused; the purge asks again every `SUBSCRIPTION_RETRY` until it answers or `stops_by`.
    `expired`: Graph never confirmed, but `stops_by` has passed, so none of them can deliver any more; that
    is an inference from expiries, not something Graph was seen to say."""

    state: SubscriptionsState
    deleted: int = 0  # over every attempt
    pending: tuple[PendingSubscription, ...] = ()
    # Set when the latest attempt could not list Graph: a subscription the app lost track of (made by a
    # renewal or creation whose row was never written) ends by then at the latest.
    unseen_until: datetime | None = None
    attempts: int = 0
    last_attempt_at: datetime | None = None
    last_error: str | None = None  # the latest failed attempt's `failure_summary`

    @property
    def stops_by(self) -> datetime | None:
        """When Graph stops delivering for every subscription of the scope it has not confirmed deleted."""
        if self.state == "removed":
            return None
        ends = [p.expires_at for p in self.pending]
        if self.unseen_until is not None:
            ends.append(self.unseen_until)
        # Nothing known left and nothing unseen: only Graph's confirming listing failed; no longer to wait.
        return max(ends) if ends else self.last_attempt_at

    @property
    def settled(self) -> bool:
        """Nothing is left to do at Graph: removed, or every subscription it did not confirm has expired."""
        return self.state != "pending"

    @property
    def retry_at(self) -> datetime | None:
        """When a `pending` purge asks Graph again (no later than `stops_by`); None once settled."""
        if self.state != "pending" or self.last_attempt_at is None:
            return None
        retry = self.last_attempt_at + SUBSCRIPTION_RETRY
        return min(retry, self.stops_by) if self.stops_by is not None else retry


def subscriptions_after(
    current: GraphSubscriptions | None, attempt: SubscriptionAttempt, at: datetime, unseen_until: datetime
) -> GraphSubscriptions:
    """The record's Graph subscriptions after one more attempt made at `at`. `unseen_until`: the latest a
    subscription of the scope can live that the app has no row of (its purge's fence, after which nothing
    creates or renews one for the scope, plus a subscription's lifetime)."""
    deleted = (current.deleted if current else 0) + attempt.deleted
    attempts = (current.attempts if current else 0) + 1
    if attempt.verified:
        return GraphSubscriptions("removed", deleted=deleted, attempts=attempts, last_attempt_at=at)
    pending = GraphSubscriptions(
        "pending",
        deleted=deleted,
        pending=attempt.remaining,
        unseen_until=None if attempt.listed else unseen_until,
        attempts=attempts,
        last_attempt_at=at,
        last_error=attempt.error,
    )
    stops_by = pending.stops_by
    return replace(pending, state="expired") if stops_by is not None and stops_by <= at else pending
