"""The purge function's use case: delete every trace of a scope, prove it, and survive anything meanwhile.

One delivery of `{"tenantId", "purgeId"}` runs `PurgeService.run`, which takes the record's lease and then
does one step after another (`functions.domain.purge.next_action`), saving the record after each:

    resolve-members (group scope) -> delete-live -> delete-backups -> verify -> [wait] -> sweep -> done
    (after the sweep, while Graph has not confirmed the subscriptions removed: [wait] -> remove-subscriptions)

- Idempotent and resumable: each step only deletes or counts, and the record says which step is next, so a
  re-delivered message, a re-queued one or the next delivery after a crash continues where the last stopped
  (at worst redoing the one step that was running; deleting twice is harmless).
- One delivery at a time: the lease (ETag-guarded) makes a second concurrent delivery raise `PurgeBusy`, so
  the host retries it later; by then the work is done and the retry finds nothing to do.
- Verification counts every registered store (`count_scope`, which searches, not trusts) and the backups;
  anything found sends the record back to `queued` and raises, so the host retries from the deletion.
- Revocation wins: the first verification is followed, at `fence_at` (the first delivery's start plus the
  longest an ingestion invocation can run, plus a margin), by a sweep that deletes and verifies again. Any
  ingestion that could have read the consent or opt-out before the change has ended by then, and any later
  one sees the change before it writes (the ingestion worker checks before reading and before writing, and
  takes back its own window if consent changed while it ran). The maintenance timer re-queues a purge
  whose sweep is due; not a delayed queue message, because an invisible message counts in the queue's
  length for its whole delay, so the queue (and the local host's idle check) would never look drained.
- Graph never blocks the deletion: `delete-live` and the sweep first try to remove the scope's
  change-notification subscriptions at Graph (`SubscriptionRemoval`, functions/services/subscription_purge.py)
  and save what that attempt did as a step of its own, then delete the stored data whatever Graph said.
  Graph down, or refusing us because the customer removed the app, is recorded (the error's class) and the
  deletion and verification go on; the live deadline depends on stored data alone. A sweep that verifies
  zero while Graph has not confirmed leaves the purge `swept`, and the maintenance timer re-queues it every
  `SUBSCRIPTION_RETRY` to ask Graph again (`remove-subscriptions`): it completes when Graph lists none of
  the scope, or once every subscription Graph did not confirm has passed its expiry (and, if Graph could not
  even be listed, the fence plus a subscription's lifetime has passed, for one the app lost track of). Then
  the record says `expired` and the completion is audited `verified-zero-graph-unverified`: storage was
  searched, Graph was not, and the record never shows a zero Graph did not give.
- Held until complete: scheduling, the ingestion worker and the backup job leave a scope alone while its
  purge is unfinished (`functions.domain.purge.purge_hold`), so a consent granted again meanwhile is not
  collected only to be swept (nor does the sweep's verification race a new backfill). A `swept` purge holds
  too: a subscription made for the scope meanwhile would be deleted by its next attempt at Graph. The
  completion hook (`functions.services.scheduling.ResumeAfterPurge`) queues the tenant's scheduling if the
  scope is included again.

Every step is audited with its counts (object IDs and numbers, never content) and kept on the record.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from functions.domain.audit import AuditEntry
from functions.domain.errors import AppError, ConcurrencyConflict, failure_summary
from functions.domain.purge import (
    GroupScope,
    PurgeRecord,
    PurgeStep,
    deadline_flags,
    next_action,
    user_scopes,
)
from functions.domain.purge_subscriptions import subscriptions_after
from functions.domain.scope import Scope
from functions.services.ports.consent import AuditLog
from functions.services.ports.purge import (
    MemberResolver,
    PurgeLedger,
    PurgeStores,
    ScopedStore,
    StoredPurge,
    SubscriptionRemoval,
)

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# host.json functionTimeout: no ingestion invocation runs longer, so none started before a purge outlives
# `started_at + INGESTION_MAX_RUNTIME`; the margin covers clock skew between instances.
INGESTION_MAX_RUNTIME = timedelta(minutes=10)
FENCE_DELAY = INGESTION_MAX_RUNTIME + timedelta(minutes=2)
LEASE = INGESTION_MAX_RUNTIME  # a purge invocation cannot outlive it either
DEFAULT_WORKERS = 4  # (scope, store) pairs deleted at once; each store batches in parallel itself


class PurgeBusy(AppError):
    """Another delivery holds the purge's lease; the host retries this message later."""


class PurgeIncomplete(AppError):
    """Verification found traces of the scope; the host retries the purge from the deletion."""


@dataclass(frozen=True, slots=True)
class PurgeRun:
    """What one delivery did: the record as it left it, and the steps it took."""

    record: PurgeRecord | None
    actions: tuple[str, ...]
    sweep_in: timedelta | None = None  # set when a delayed sweep was queued


# Called once a purge completes; True when it queued ingestion again (the scope is included again).
CompletionHook = Callable[[PurgeRecord, datetime], bool]


class PurgeService:
    def __init__(
        self,
        ledger: PurgeLedger,
        stores: PurgeStores,
        audit: AuditLog,
        members: MemberResolver,
        *,
        fence_delay: timedelta = FENCE_DELAY,
        lease: timedelta = LEASE,
        workers: int = DEFAULT_WORKERS,
        on_completed: CompletionHook | None = None,
        subscriptions: SubscriptionRemoval | None = None,
    ) -> None:
        self._ledger, self._audit, self._members = ledger, audit, members
        self._first, self._live, self._backups = stores.first, stores.live, stores.backups
        self._fence_delay, self._lease, self._workers = fence_delay, lease, workers
        self._on_completed, self._subscriptions = on_completed, subscriptions

    @property
    def store_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self._first + self._live + self._backups)

    def run(self, tenant_id: str, purge_id: str, clock: Clock) -> PurgeRun:
        """Advance the purge as far as it can go now; raise (so the host retries) if it cannot finish."""
        owner = str(uuid.uuid4())
        stored = self._ledger.load(tenant_id, purge_id)
        if stored is None:
            logger.warning("purge %s of tenant %s does not exist; nothing to do", purge_id, tenant_id)
            return PurgeRun(None, ())
        if stored.record.finished:
            return PurgeRun(stored.record, ("done",))
        record, etag = self._claim(stored, owner, clock())
        actions: list[str] = []
        try:
            while True:
                now = clock()
                action = next_action(record, now)
                actions.append(action)
                if action == "done":
                    return PurgeRun(record, tuple(actions))
                if action == "wait-for-fence":
                    # The maintenance timer re-queues it once `fence_at` has passed (see module docstring).
                    delay = (record.fence_at or now) - now
                    record, etag = self._save(replace(record, lease_owner=None, lease_until=None), etag, now)
                    if "verify" in actions:
                        detail = f"sweep due at {record.fence_at.isoformat() if record.fence_at else now}"
                        self._audit_event(record, now, "purge.sweep-pending", "waiting", detail=detail)
                    return PurgeRun(record, tuple(actions), delay)
                if action == "remove-subscriptions" and action in actions[:-1]:
                    # Graph is asked once per delivery at most.
                    action = actions[-1] = "wait-for-subscriptions"
                if action == "wait-for-subscriptions":
                    # Stored data is verified twice; the maintenance timer re-queues it when Graph is due.
                    record, etag = self._save(replace(record, lease_owner=None, lease_until=None), etag, now)
                    graph = record.graph_subscriptions
                    if graph is not None and {"sweep", "remove-subscriptions"} & set(actions):
                        detail = (
                            f"next attempt at {_iso(graph.retry_at)}; "
                            f"Graph stops delivering by {_iso(graph.stops_by)}"
                        )
                        self._audit_event(
                            record, now, "purge.subscriptions-pending", "waiting", detail=detail
                        )
                    return PurgeRun(record, tuple(actions))
                record, etag = self._step(action, record, etag, clock)
        except Exception as error:
            self._record_failure(tenant_id, purge_id, owner, error, clock())
            raise

    def reapply(self, record: PurgeRecord, at: datetime) -> dict[str, int]:
        """Delete the purge's scope again (after a restore brought old data back) and verify; the record's
        status is left as it is. Returns what was deleted; raises `PurgeIncomplete` if anything remains."""
        started = time.monotonic()
        scope = record.scope
        if isinstance(scope, GroupScope) and record.members is None:
            record = replace(
                record, members=tuple(sorted(self._members.members(scope.tenant_id, scope.group_ids)))
            )
        deleted = self._delete(record, live=True, backups=True)
        found = self._verify(record)
        detail = f"{round((time.monotonic() - started) * 1000)} ms"
        outcome = "found" if sum(found.values()) else "verified-zero"
        self._audit_event(record, at, "purge.reapplied", outcome, counts=deleted, detail=detail)
        if sum(found.values()):
            raise PurgeIncomplete(f"re-applying purge {record.id} left {_describe(found)}")
        return deleted

    # --- steps ---------------------------------------------------------------------------------------------

    def _step(self, action: str, record: PurgeRecord, etag: str, clock: Clock) -> tuple[PurgeRecord, str]:
        started = time.monotonic()
        if action == "resolve-members":
            scope = record.scope
            assert isinstance(scope, GroupScope)  # next_action asks for members of group scopes only
            members = tuple(sorted(self._members.members(scope.tenant_id, scope.group_ids)))
            counts = {"groups": len(scope.group_ids), "members": len(members)}
            updated = replace(record, members=members)
            return self._record_step(
                updated, etag, "members-resolved", counts, started=started, clock=clock, subjects=members
            )
        if action == "remove-subscriptions":
            return self._retry_subscriptions(record, etag, clock)
        if action in ("delete-live", "delete-backups"):
            live = action == "delete-live"
            if live:
                record, etag = self._remove_subscriptions(record, etag, clock)
                started = time.monotonic()
            deleted = self._delete(record, live=live, backups=not live)
            now = clock()
            if action == "delete-live":
                updated = replace(record, status="live-deleted", live_deleted_at=now)
                name = "live-deleted"
            else:
                updated = replace(record, status="backups-deleted", backups_deleted_at=now)
                name = "backups-deleted"
            updated = replace(updated, counts=_add(record.counts, deleted))
            return self._record_step(updated, etag, name, deleted, started=started, clock=clock)
        if action == "verify":
            found = self._verify(record)
            if sum(found.values()):
                updated = replace(record, status="queued", verification=found)
                self._record_step(updated, etag, "verification-failed", found, started=started, clock=clock)
                raise PurgeIncomplete(f"verification found {_describe(found)}; deleting again")
            updated = replace(record, status="verified", verification=found, verified_at=clock())
            return self._record_step(updated, etag, "verified", found, started=started, clock=clock)
        # sweep: delete whatever an ingestion that was already running wrote late, then verify again
        record, etag = self._remove_subscriptions(record, etag, clock)
        started = time.monotonic()
        deleted = self._delete(record, live=True, backups=True)
        found = self._verify(record)
        swept = replace(record, counts=_add(record.counts, deleted), verification=found)
        swept, etag = self._record_step(swept, etag, "swept", deleted, started=started, clock=clock)
        if sum(found.values()):
            # Not verified any more: something was written after the first verification and is still there.
            # Judged by `verified_at`, the deadlines would read "met" while it stays; the purge starts over,
            # and the verification that finds zero again is the one they are judged by.
            again = replace(swept, status="queued", verified_at=None)
            self._record_step(again, etag, "sweep-verification-failed", found, started=started, clock=clock)
            raise PurgeIncomplete(f"the sweep's verification found {_describe(found)}; deleting again")
        graph = swept.graph_subscriptions
        if graph is not None and not graph.settled:
            # Stored data is gone and verified twice; only Graph's side is left (`remove-subscriptions`).
            waiting = replace(swept, status="swept")
            return self._record_step(waiting, etag, "sweep-verified", found, started=started, clock=clock)
        return self._complete(swept, etag, clock, step=("sweep-verified", found, started))

    def _complete(
        self,
        record: PurgeRecord,
        etag: str,
        clock: Clock,
        step: tuple[str, Mapping[str, int], float] | None,
    ) -> tuple[PurgeRecord, str]:
        """Mark the purge completed (with `step`, if given, in the same write) and run the completion hook.
        Completion releases the lease in the same write: nothing is left to do after it."""
        done = replace(
            record,
            status="completed",
            completed_at=clock(),
            lease_owner=None,
            lease_until=None,
            last_error=None,
        )
        if step is None:
            completed = self._save(done, etag, clock())
        else:
            name, counts, started = step
            completed = self._record_step(done, etag, name, counts, started=started, clock=clock)
        self._completed(completed[0], clock())
        return completed

    def _retry_subscriptions(self, record: PurgeRecord, etag: str, clock: Clock) -> tuple[PurgeRecord, str]:
        """A swept purge asks Graph again; it completes once Graph's side is settled (removed or expired)."""
        graph = record.graph_subscriptions
        if graph is None or not graph.settled:
            record, etag = self._remove_subscriptions(record, etag, clock)
            graph = record.graph_subscriptions
        if graph is None or graph.settled:
            return self._complete(record, etag, clock, step=None)
        return record, etag

    def _remove_subscriptions(self, record: PurgeRecord, etag: str, clock: Clock) -> tuple[PurgeRecord, str]:
        """One attempt to remove the scope's subscriptions at Graph, saved (with those it could not remove)
        before the rows that name them are deleted. Nothing is recorded when there was nothing to ask."""
        if self._subscriptions is None:
            return record, etag
        started = time.monotonic()
        current = record.graph_subscriptions
        known = current.pending if current is not None else ()
        again = current is not None and not current.settled
        attempt = self._subscriptions.remove(record.tenant_id, user_scopes(record), known, again=again)
        if attempt is None:
            return record, etag
        now = clock()
        unseen_until = (record.fence_at or now) + self._subscriptions.lifetime
        graph = subscriptions_after(current, attempt, now, unseen_until)
        name = {
            "removed": "subscriptions-removed-at-graph",
            "pending": "subscriptions-not-removed-at-graph",
            "expired": "subscriptions-expired-at-graph",
        }[graph.state]
        counts = {"deleted": attempt.deleted, "pending": len(graph.pending)}
        updated = replace(record, graph_subscriptions=graph)
        return self._record_step(
            updated, etag, name, counts, started=started, clock=clock, error=attempt.error
        )

    def _each(
        self, record: PurgeRecord, stores: Sequence[ScopedStore], work: Callable[[ScopedStore, Scope], int]
    ) -> dict[str, int]:
        """Run `work` on every (store, scope) pair in parallel; the totals per store."""
        pairs = [(store, scope) for scope in user_scopes(record) for store in stores]
        totals = {store.name: 0 for store in stores}
        if not pairs:
            return totals
        with ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="purge") as pool:
            for (store, _), count in zip(pairs, pool.map(lambda p: work(*p), pairs), strict=True):
                totals[store.name] += count
        return totals

    def _delete(self, record: PurgeRecord, *, live: bool, backups: bool) -> dict[str, int]:
        """Delete the live data and/or the backups; the `first` stores (subscriptions) go before live data,
        so nothing notifies about a subject while it is being deleted."""
        deleted: dict[str, int] = {}
        stages = [self._first, self._live] if live else []
        for stores in [*stages, *([self._backups] if backups else [])]:
            deleted.update(self._each(record, stores, lambda store, scope: store.delete_scope(scope)))
        return deleted

    def _verify(self, record: PurgeRecord) -> dict[str, int]:
        stores = self._first + self._live + self._backups
        return self._each(record, stores, lambda store, scope: store.count_scope(scope))

    # --- the record ----------------------------------------------------------------------------------------

    def _claim(self, stored: StoredPurge, owner: str, now: datetime) -> tuple[PurgeRecord, str]:
        record = stored.record
        if record.leased_to_other(owner, now) or stored.etag is None:
            raise PurgeBusy(f"purge {record.id} is being run by another delivery until {record.lease_until}")
        started_at = record.started_at or now
        claimed = replace(
            record,
            lease_owner=owner,
            lease_until=now + self._lease,
            attempts=record.attempts + 1,
            started_at=started_at,
            fence_at=record.fence_at or started_at + self._fence_delay,
        )
        try:
            return self._save(claimed, stored.etag, now)
        except ConcurrencyConflict:
            raise PurgeBusy(f"purge {record.id} was claimed by another delivery at the same time") from None

    def _save(self, record: PurgeRecord, etag: str, now: datetime) -> tuple[PurgeRecord, str]:
        record = replace(record, deadline_flags=deadline_flags(record, now))
        new_etag = self._ledger.save(record, etag)
        if new_etag is None:  # a ledger that does not return ETags: read it back
            stored = self._ledger.load(record.tenant_id, record.id)
            if stored is None or stored.etag is None:
                raise ConcurrencyConflict(f"purge {record.id} disappeared while it ran")
            return stored.record, stored.etag
        return record, new_etag

    def _record_step(
        self,
        record: PurgeRecord,
        etag: str,
        name: str,
        counts: Mapping[str, int],
        *,
        started: float,
        clock: Clock,
        subjects: Sequence[str] | None = None,
        error: str | None = None,
    ) -> tuple[PurgeRecord, str]:
        now = clock()
        step = PurgeStep(name, now, dict(counts), round((time.monotonic() - started) * 1000), error)
        saved = self._save(replace(record, steps=(*record.steps, step)), etag, now)
        self._audit_event(
            saved[0],
            now,
            "purge.step",
            name,
            counts=counts,
            subjects=subjects,
            detail=f"{step.duration_ms} ms" + (f"; {error}" if error else ""),
        )
        return saved

    def _completed(self, record: PurgeRecord, at: datetime) -> None:
        elapsed = (record.completed_at or at) - record.requested_at
        totals = dict(record.counts)
        detail = f"after {elapsed}"
        outcome = "verified-zero"
        graph = record.graph_subscriptions
        if graph is not None and graph.state == "expired":
            # Storage was searched and found empty; Graph's side is known only from expiries.
            outcome = "verified-zero-graph-unverified"
            detail += (
                f"; {len(graph.pending)} Graph subscription(s) not removed ({graph.last_error}): "
                f"Graph stopped delivering for them by {_iso(graph.stops_by)} (not verified through Graph)"
            )
        if self._on_completed is not None:
            try:
                if self._on_completed(record, at):
                    detail += "; its scope is included again: ingestion queued"
            except AppError as error:  # the purge is done; the next daily scheduling run resumes ingestion
                logger.warning("purge %s completed, but queuing ingestion again failed: %s", record.id, error)
        self._audit_event(record, at, "purge.completed", outcome, counts=totals, detail=detail)
        logger.info("purge %s of tenant %s completed: %s", record.id, record.tenant_id, _describe(totals))

    def _record_failure(
        self, tenant_id: str, purge_id: str, owner: str, error: Exception, now: datetime
    ) -> None:
        """Best effort: note the failure on the record and in the audit log, and give the lease back. What is
        stored is `failure_summary` (class, Graph's status and code), never the error's text, which can carry
        what a response held; the log has the text."""
        detail = failure_summary(error)
        logger.warning("purge %s of tenant %s did not finish: %s: %s", purge_id, tenant_id, detail, error)
        if isinstance(error, PurgeBusy):
            return
        try:
            stored = self._ledger.load(tenant_id, purge_id)
            if stored is None or stored.etag is None or stored.record.finished:
                return
            record = stored.record
            if record.lease_owner == owner:
                record = replace(record, lease_owner=None, lease_until=None)
            self._save(replace(record, last_error=detail), stored.etag, now)
            self._audit_event(record, now, "purge.attempt-failed", "retrying", detail=detail)
        except Exception:  # the original error is what the host must see
            logger.exception("could not record the failure of purge %s", purge_id)

    def _audit_event(
        self,
        record: PurgeRecord,
        at: datetime,
        kind: str,
        outcome: str,
        *,
        counts: Mapping[str, int] | None = None,
        subjects: Sequence[str] | None = None,
        detail: str | None = None,
    ) -> None:
        scope = record.scope
        default = sorted(scope.group_ids) if isinstance(scope, GroupScope) else [scope.subject]
        entry = AuditEntry(
            tenant_id=record.tenant_id,
            at=at,
            kind=kind,
            outcome=outcome,
            subject_ids=tuple(sorted(subjects if subjects is not None else default)),
            purge_id=record.id,
            counts=dict(counts or {}),
            detail=detail,
        )
        self._audit.append(entry)


def _add(totals: Mapping[str, int], more: Mapping[str, int]) -> dict[str, int]:
    merged = dict(totals)
    for name, count in more.items():
        merged[name] = merged.get(name, 0) + count
    return merged


def _iso(at: datetime | None) -> str:
    return at.isoformat() if at is not None else "-"


def _describe(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items())) or "nothing"
