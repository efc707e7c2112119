"""The maintenance timer (`%MAINTENANCE_SCHEDULE%`): a short list of independent steps, run in order.

`MaintenanceService` runs every step even when one fails (each is logged), then raises if any failed so the
host records the run as failed. A step is `(name, run)` where `run(now)` returns counts for the log; adding
one (e.g. legacy-consent expiry) is one line in `Container.maintenance_steps` (functions/bootstrap.py).

The purge step (`PurgeMaintenance.run`):
1. moves every readable message from `purges-poison` back to `purges` (for purges not completed);
2. re-queues every verified purge whose sweep is due (`fence_at` passed: "revocation wins", see
   functions/services/purge.py), every swept purge whose retry at Graph is due (Graph had not removed the
   scope's subscriptions: `GraphSubscriptions.retry_at`), and every other unfinished purge that nobody is
   working on and that has not moved for `stale_after` (a lost message, a crash that outlived the lease);
3. flags purges near or past a deadline: a warning in the log and `deadlineFlags` on the record (the
   purge API shows it), so an operator sees it before the 24-hour or 30-day promise is broken.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from functions.domain.errors import AppError, ConcurrencyConflict
from functions.domain.purge import PurgeRecord, deadline_flags
from functions.services.ports.purge import PurgeLedger
from functions.services.ports.queues import PurgeMessage, PurgeRedrive

logger = logging.getLogger(__name__)

MaintenanceStep = tuple[str, Callable[[datetime], Mapping[str, int]]]
# Longer than a purge delivery can hold its lease, shorter than the timer's default period.
STALE_AFTER = timedelta(minutes=10)


class MaintenanceFailed(AppError):
    """At least one maintenance step failed (the others still ran)."""


class MaintenanceService:
    def __init__(self, steps: Sequence[MaintenanceStep]) -> None:
        self._steps = tuple(steps)

    @property
    def step_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self._steps)

    def run(self, now: datetime) -> dict[str, Mapping[str, int]]:
        results: dict[str, Mapping[str, int]] = {}
        failed: list[str] = []
        for name, step in self._steps:
            try:
                results[name] = step(now)
            except Exception:  # one failing step must not keep the others (e.g. purge re-queues) from running
                logger.exception("maintenance step %s failed", name)
                failed.append(name)
            else:
                logger.info("maintenance step %s: %s", name, dict(results[name]))
        if failed:
            raise MaintenanceFailed(f"maintenance steps failed: {', '.join(failed)}")
        return results


class PurgeMaintenance:
    def __init__(
        self, ledger: PurgeLedger, queue: PurgeRedrive, *, stale_after: timedelta = STALE_AFTER
    ) -> None:
        self._ledger, self._queue, self._stale_after = ledger, queue, stale_after

    def run(self, now: datetime) -> dict[str, int]:
        unfinished = {(r.tenant_id, r.id): r for r in self._ledger.unfinished()}

        def keep(message: PurgeMessage) -> bool:
            # A poison message of a finished (or unknown) purge has nothing left to do: it is dropped.
            return (message.tenant_id, message.purge_id) in unfinished

        moved = {(m.tenant_id, m.purge_id) for m in self._queue.requeue_poison(keep)}
        requeued = flagged = 0
        for key, record in unfinished.items():
            if key not in moved and self._stalled(record, now):
                self._queue.enqueue(record.tenant_id, record.id)
                requeued += 1
                logger.warning(
                    "purge %s of tenant %s had stalled (%s); re-queued", record.id, key[0], record.status
                )
            flags = deadline_flags(record, now)
            if flags:
                flagged += 1
                logger.warning(
                    "purge %s of tenant %s (%s, requested %s): %s",
                    record.id, key[0], record.status, record.requested_at.isoformat(), ", ".join(flags),
                )  # fmt: skip
            if flags != record.deadline_flags:
                self._save_flags(record, now)
        return {
            "unfinished": len(unfinished),
            "fromPoison": len(moved),
            "requeued": requeued,
            "flagged": flagged,
        }

    def _stalled(self, record: PurgeRecord, now: datetime) -> bool:
        """Nobody is working on it and it has not moved for `stale_after` (or its sweep is that overdue)."""
        if record.lease_until is not None and now < record.lease_until:
            return False
        if record.status == "verified" and record.fence_at is not None:
            return now >= record.fence_at  # the sweep is due: this is what starts it
        graph = record.graph_subscriptions
        if record.status == "swept" and graph is not None and graph.retry_at is not None:
            return now >= graph.retry_at  # Graph is asked again for the subscriptions it would not remove
        last = max([record.requested_at, *(s.at for s in record.steps), *filter(None, [record.lease_until])])
        return now >= last + self._stale_after

    def _save_flags(self, record: PurgeRecord, now: datetime) -> None:
        stored = self._ledger.load(record.tenant_id, record.id)
        if stored is None or stored.etag is None or stored.record.finished:
            return
        try:
            self._ledger.save(
                replace(stored.record, deadline_flags=deadline_flags(stored.record, now)), stored.etag
            )
        except ConcurrencyConflict:
            return  # the purge function saved it meanwhile (and sets the flags itself)
