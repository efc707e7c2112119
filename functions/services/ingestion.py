"""The ingestion worker: one `ingest` queue message is one user and one window (see domain/ingestion.py).

1. Fence: the inclusion decision (functions/domain/inclusion.py: a feature enabled, the user included, no
   purge of theirs or the tenant's unfinished) is taken before anything is read; an excluded user's window
   is `skipped`. A user whose group membership is not resolved yet (the group list just changed) is not
   skipped but retried: the resolution is asked for (coalesced) and `MembershipPending` raised, so the host
   delivers the message again in a moment. The cursor becomes `running` with `started_at` (what the purge
   fences on) and a run ID that tags every row this run writes.
2. Stream: mail pages (the list call for backfill windows, Graph delta for the incremental one), then the
   calendar view; each page becomes interactions (`interactions_from_message` / `_from_meeting`) buffered up
   to `flush_interactions`, so memory stays flat however large the mailbox is.
3. Before each flush, and before another page is asked for once the last check is `FENCE_BETWEEN_PAGES`
   old, the fence is taken again: any change since the start (withdrawal, opt-out, group exclusion, even a
   revoke-and-grant) stops the reads within moments. A flush writes the slice rows, then their copies in the
   contact index (a slice row always exists for an index row; re-writing a key overwrites it).
4. After the last write the fence is taken once more. "Revocation wins": if it changed since the window
   started, every row this run wrote (tracked by key, so also rows a concurrent purge already half-removed)
   is deleted again and the window ends `revoked` (re-queued by a later run if the user is still included,
   or may be: a membership not resolved yet keeps the cursor for the run the resolution asks for).
5. A user or mailbox that is gone (404) ends `skipped` and is not retried; throttling that outlasted the
   retry middleware, malformed JSON or storage failures end `failed` and re-raise so the host retries (the
   insights say `partial` meanwhile). Every run is audited with counts, never content: a failed window's
   cursor and audit entry name the error's class and, for Graph, its status, code and unreadable field
   (`failure_summary`), never the error's text.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from functions.domain.accounts import account_pairs
from functions.domain.audit import AuditEntry
from functions.domain.contacts import ContactHasher
from functions.domain.errors import (
    AppError,
    GraphNotFound,
    MembershipPending,
    ValidationFailed,
    failure_summary,
)
from functions.domain.inclusion import Fence
from functions.domain.ingestion import (
    CALENDAR_LOOKAHEAD,
    CALENDAR_OVERLAP,
    INCREMENTAL,
    Cursor,
    WindowStatus,
    reads_ahead,
)
from functions.domain.interactions import (
    Interaction,
    interactions_from_meeting,
    interactions_from_message,
)
from functions.services.inclusion import InclusionReader
from functions.services.ports.consent import AuditLog
from functions.services.ports.ingestion import (
    AccountStore,
    ContactStore,
    CursorStore,
    GraphFactory,
    GraphReader,
    SliceStore,
)
from functions.services.ports.queues import WorkQueues
from functions.services.shared_by_windows import AccountsWritten, DirectoryCache, MailboxSlots

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
FLUSH_INTERACTIONS = 2000
# How old a window's fence may be before it asks Graph for another page: reads of a mailbox stop within this
# (and the page in flight) of an opt-out or withdrawal, not at the window's next write.
FENCE_BETWEEN_PAGES = timedelta(seconds=2)


@dataclass(frozen=True, slots=True)
class WindowRequest:
    """The body of an `ingest` queue message of type `window`."""

    tenant_id: str
    user_id: str
    window: str
    start: datetime
    end: datetime | None  # None for the incremental window: up to the time it runs

    def to_message(self) -> dict[str, Any]:
        return {
            "type": "window",
            "tenantId": self.tenant_id,
            "userId": self.user_id,
            "window": self.window,
            "start": self.start.isoformat(),
            "end": self.end.isoformat() if self.end else None,
        }

    @classmethod
    def from_message(cls, data: dict[str, Any]) -> WindowRequest:
        try:
            end = data.get("end")
            request = cls(
                tenant_id=str(data["tenantId"]).lower(),
                user_id=str(data["userId"]).lower(),
                window=str(data["window"]),
                start=datetime.fromisoformat(str(data["start"])),
                end=datetime.fromisoformat(str(end)) if end else None,
            )
        except (KeyError, ValueError, TypeError) as error:
            raise ValidationFailed(f"not an ingestion window message: {error!r}") from None
        if request.start.tzinfo is None or (request.end is not None and request.end.tzinfo is None):
            raise ValidationFailed("window times must carry a time zone")
        return request


@dataclass(slots=True)
class _Run:
    request: WindowRequest
    run_id: str
    fence: Fence
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("messages", "meetings", "interactions"), 0)
    )
    written: dict[tuple[str, str], Interaction] = field(default_factory=dict)  # (contact, key) -> interaction
    delta_link: str | None = None
    hasher: ContactHasher | None = None  # the run's; it knows each contact's account
    fenced_at: datetime | None = None  # when the fence was last found unchanged


class _FenceChanged(Exception):
    """Consent or exclusion changed while the window ran."""


class IngestionWorker:
    def __init__(
        self,
        inclusion: InclusionReader,
        slices: SliceStore,
        contacts: ContactStore,
        cursors: CursorStore,
        accounts: AccountStore,
        *,
        requests: WorkQueues,
        audit: AuditLog,
        graph_factory: GraphFactory,
        contact_hash_key: bytes,
        clock: Clock,
        directories: DirectoryCache | None = None,
        slots: MailboxSlots | None = None,
        accounts_written: AccountsWritten | None = None,
        flush_interactions: int = FLUSH_INTERACTIONS,
    ) -> None:
        self._inclusion, self._requests = inclusion, requests
        self._slices, self._contacts, self._cursors, self._audit = slices, contacts, cursors, audit
        self._accounts = accounts
        self._graph_factory = graph_factory
        self._key = contact_hash_key
        self._clock = clock
        self._directories = directories or DirectoryCache()
        self._slots = slots or MailboxSlots()
        self._accounts_written = accounts_written or AccountsWritten()
        self._flush_interactions = flush_interactions

    def run(self, request: WindowRequest) -> WindowStatus:
        """Process one window (blocking; each queue invocation gets its own event loop)."""
        with self._slots.slot(request.tenant_id, request.user_id):
            return asyncio.run(self.run_async(request))

    async def run_async(self, request: WindowRequest) -> WindowStatus:
        t, u = request.tenant_id, request.user_id
        fence = self._fence(t, u)
        previous = self._cursors.get(t, u, request.window)
        cursor = previous or Cursor(t, u, request.window, request.start, request.end, "queued", self._clock())
        if fence.decision.transient:
            # Not a "no": the group list changed and its members are being resolved. No cursor write, no
            # read; the host retries the message (and the resolution is asked for, in case its own request
            # was lost).
            self._requests.request_membership(t, self._clock())
            self._audit_window(cursor, "deferred", {}, fence.reason)
            raise MembershipPending(f"group membership of tenant {t} is being resolved; retry shortly")
        if not fence.allowed:
            # No cursor write: the user's rows may be a purge's to delete; the audit entry is the record. A
            # purge that holds the user re-queues the tenant when it completes.
            self._audit_window(cursor, "skipped", {}, fence.reason)
            return "skipped"
        started = self._clock()
        run = _Run(request, str(uuid.uuid4()), fence, fenced_at=started)
        cursor = replace(
            cursor, status="running", run_id=run.run_id, started_at=started, updated_at=started,
            attempts=cursor.attempts + 1, error=None, start=request.start, end=request.end,
        )  # fmt: skip
        self._cursors.save(cursor)
        graph = self._graph_factory()
        try:
            await self._ingest(graph, run, cursor)
        except _FenceChanged:
            return self._take_back(cursor, run)
        except GraphNotFound as error:
            logger.warning("ingestion: %s/%s window %s skipped: %s", t, u, request.window, error)
            self._finish(cursor, "skipped", run.counts, detail="user-or-mailbox-gone")
            return "skipped"
        except (AppError, OSError) as error:
            # Stored: the class and Graph's status and code only (`failure_summary`); the text, which can
            # quote what a response held, goes to the host's log with the raised error.
            self._finish(cursor, "failed", run.counts, error=failure_summary(error))
            raise
        finally:
            await graph.aclose()
        if self._fence(t, u) != fence:
            return self._take_back(cursor, run)
        end = request.end or started
        self._finish(
            replace(cursor, end=end, delta_link=run.delta_link or cursor.delta_link), "succeeded", run.counts
        )
        return "succeeded"

    # --- reading and writing --------------------------------------------------------------------------------

    async def _ingest(self, graph: GraphReader, run: _Run, cursor: Cursor) -> None:
        request = run.request
        t, u = request.tenant_id, request.user_id
        directory = await self._directories.get(graph, t)
        hasher = run.hasher = ContactHasher(self._key, t)
        buffer: list[Interaction] = []
        until = request.end or self._clock()
        if request.window == INCREMENTAL:
            mail_round = graph.messages_delta(t, u, cursor.delta_link, request.start)
            mail_pages = mail_round.pages()
        else:
            mail_round = None
            mail_pages = graph.messages(t, u, request.start, until)
        async for page in mail_pages:
            run.counts["messages"] += len(page)
            for message in page:
                buffer.extend(interactions_from_message(message, directory, hasher))
            if len(buffer) >= self._flush_interactions:
                self._flush(run, buffer)
            self._before_next_page(run)
        if mail_round is not None:
            run.delta_link = mail_round.delta_link
        calendar_start = request.start - CALENDAR_OVERLAP if request.window == INCREMENTAL else request.start
        ahead = reads_ahead(request.window)
        calendar_end = until + CALENDAR_LOOKAHEAD if ahead else until
        async for events in graph.calendar_view(t, u, calendar_start, calendar_end):
            run.counts["meetings"] += len(events)
            for meeting in events:
                buffer.extend(interactions_from_meeting(meeting, directory, hasher))
            if len(buffer) >= self._flush_interactions:
                self._flush(run, buffer)
            self._before_next_page(run)
        self._flush(run, buffer)
        if ahead:
            self._drop_withdrawn_plans(run, until)

    def _drop_withdrawn_plans(self, run: _Run, until: datetime) -> None:
        """The read ahead is the whole truth about the user's plans: a stored meeting after `until` that it no
        longer showed was moved or cancelled, so its rows go (from the contact index too)."""
        t, u = run.request.tenant_id, run.request.user_id
        withdrawn = [
            planned
            for planned in self._slices.meetings_after(t, u, until)
            if (planned.contact, planned.key) not in run.written
        ]
        if withdrawn:
            self._contacts.delete_interactions(t, withdrawn)
            run.counts["plansWithdrawn"] = self._slices.delete_interactions(t, u, withdrawn)

    def _before_next_page(self, run: _Run) -> None:
        """Take the fence again before another page is asked for, once it is `FENCE_BETWEEN_PAGES` old: a
        window that read on until its write would go on reading a mailbox for as long as the month takes to
        read (minutes, throttled) after its owner opted out."""
        if run.fenced_at is None or self._clock() - run.fenced_at >= FENCE_BETWEEN_PAGES:
            self._check_fence(run)

    def _check_fence(self, run: _Run) -> None:
        checked = self._clock()
        if self._fence(run.request.tenant_id, run.request.user_id) != run.fence:
            raise _FenceChanged
        run.fenced_at = checked

    def _flush(self, run: _Run, buffer: list[Interaction]) -> None:
        t, u = run.request.tenant_id, run.request.user_id
        self._check_fence(run)
        if not buffer:
            return
        if run.hasher is not None:
            accounts = run.hasher.take_accounts()
            buffer[:] = [replace(i, account=accounts.get(i.contact, "")) for i in buffer]
        for interaction in buffer:
            run.written[interaction.contact, interaction.key] = interaction
        self._slices.write(t, u, buffer, run.run_id)
        self._contacts.write(t, buffer, run.run_id)
        version = run.fence.consent_version
        pairs = self._accounts_written.unwritten(t, version, account_pairs(buffer))
        if pairs:
            self._accounts.add(t, pairs)
            self._accounts_written.remember(t, version, pairs)
        run.counts["interactions"] += len(buffer)
        buffer.clear()

    def _take_back(self, cursor: Cursor, run: _Run) -> WindowStatus:
        t, u = cursor.tenant_id, cursor.user_id
        interactions = {
            **run.written,
            **{(f.contact, f.key): f for f in self._slices.interactions_of_run(t, u, run.run_id)},
        }
        removed = self._contacts.delete_interactions(t, interactions.values())
        removed += self._slices.delete_interactions(t, u, interactions.values())
        counts = {**run.counts, "rowsTakenBack": removed}
        now_fence = self._fence(t, u)
        if now_fence.allowed or now_fence.decision.transient:
            # Queued again by a later run (the resolution of a changed group list asks for one). Updated only
            # if present: a purge that deleted the cursor meanwhile keeps it deleted.
            self._finish(cursor, "revoked", counts, detail=now_fence.reason)
        else:
            self._cursors.delete(t, u, cursor.window)  # excluded now: the cursor is the purge's too
            self._audit_window(cursor, "revoked", counts, now_fence.reason)
        return "revoked"

    # --- bookkeeping ----------------------------------------------------------------------------------------

    def _fence(self, tenant_id: str, user_id: str) -> Fence:
        return self._inclusion.fence(tenant_id, user_id, self._clock())

    def _finish(
        self,
        cursor: Cursor,
        status: WindowStatus,
        counts: dict[str, int],
        *,
        detail: str | None = None,
        error: str | None = None,
    ) -> None:
        now = self._clock()
        finished = replace(
            cursor, status=status, updated_at=now, finished_at=now, counts=counts, error=error or detail
        )
        # Never re-create a cursor a purge deleted while the window ran.
        self._cursors.update_if_present(finished)
        self._audit_window(cursor, status, counts, error or detail)

    def _audit_window(
        self, cursor: Cursor, status: WindowStatus | str, counts: dict[str, int], why: str | None
    ) -> None:
        self._audit.append(
            AuditEntry(
                tenant_id=cursor.tenant_id, at=self._clock(), kind="ingestion.window", outcome=status,
                subject_ids=(cursor.user_id,), counts=dict(counts),
                detail=f"{cursor.window}: {why}" if why else cursor.window,
            )
        )  # fmt: skip
