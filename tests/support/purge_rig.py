"""The purge service wired to Azurite (real stores, ledger, audit log) with a clock the test moves, for
integration tests, the demo-independent fault tests and the benchmark.

The rig's queue (for its maintenance) is its own, not `purges`, so an app host listening on the shared Azurite
never runs a test's purge; the test runs deliveries itself with `rig.run(record)`.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from functions.adapters.audit_store import TableAuditLog
from functions.adapters.purge_queue import StoragePurgeQueue
from functions.adapters.storage import StorageClients
from functions.bootstrap import Container
from functions.domain.audit import AuditEntry
from functions.domain.events import Provenance
from functions.domain.purge import PurgeRecord, PurgeTarget, new_purge
from functions.domain.scope import Scope
from functions.services.ports.purge import MemberResolver
from functions.services.purge import CompletionHook, PurgeRun
from tests.support.container import app_settings
from tests.support.memory_stores import MemoryQueues
from tests.support.purge_data import traces
from tests.support.purge_fakes import AfterEachStep, Clock, StaticMembers, StepHook

FENCE_DELAY = timedelta(minutes=12)


class PurgeRig:
    """The app's container on Azurite, purge side: the real ledger, stores and audit log, a clock the test
    moves, group members it states (`rig.members.groups[...]`), a queue of its own, and `after_step` to act
    between two steps of a purge (`rig.steps.hook = None` stops it)."""

    def __init__(
        self,
        storage: StorageClients,
        now: datetime,
        *,
        after_step: StepHook | None = None,
        on_completed: CompletionHook | None = None,
        members: MemberResolver | None = None,
    ) -> None:
        self.storage = storage
        self.clock = Clock(now)
        self.steps = AfterEachStep(TableAuditLog(storage), after_step)
        self.container = c = Container(
            app_settings(), storage=storage, clock=self.clock, audit_log=self.steps,
            member_resolver=members or StaticMembers(), work_queues=MemoryQueues(),
            purge_queue=StoragePurgeQueue(storage, f"purgerig{uuid.uuid4().hex[:12]}"),
            purge_completed=on_completed or (lambda _record, _at: False),
        )  # fmt: skip
        self.ledger, self.audit, self.queue = c.purge_store, self.steps.inner, c.purge_queue
        self.members, self.stores, self.service = c.member_resolver, c.purge_stores, c.purge_service
        self.failures: list[Exception] = []

    def request(self, scope: PurgeTarget, reason: str = "consent-revoked") -> PurgeRecord:
        at = self.clock()
        provenance = Provenance("admin-oid", f"evt-{uuid.uuid4()}", at, "api", at)
        record, _ = self.ledger.create(new_purge(scope, reason, provenance))  # type: ignore[arg-type]
        return record

    def run(self, record: PurgeRecord) -> PurgeRun:
        return self.service.run(record.tenant_id, record.id, self.clock)

    def to_completion(self, record: PurgeRecord, deliveries: int = 6) -> PurgeRecord:
        """Deliver until completed: a failed delivery is retried; a pending sweep waits out the fence (the
        maintenance timer would re-queue it then)."""
        for _ in range(deliveries):
            try:
                run = self.run(record)
            except Exception as error:  # noqa: BLE001  (the host retries a failed delivery; so does this loop)
                self.failures.append(error)
                continue
            if run.sweep_in is not None:
                self.clock.advance(run.sweep_in)
            if run.record is not None and run.record.finished:
                return run.record
        return self.stored(record)

    def stored(self, record: PurgeRecord) -> PurgeRecord:
        found = self.ledger.get(record.tenant_id, record.id)
        assert found is not None
        return found

    def story(self, tenant_id: str, purge_id: str) -> list[tuple[str, str]]:
        """The purge's audit entries, oldest first, as (kind, outcome)."""
        entries: list[AuditEntry] = []
        page = self.audit.page(tenant_id, 200, None)
        entries.extend(page.entries)
        while page.continuation:
            page = self.audit.page(tenant_id, 200, page.continuation)
            entries.extend(page.entries)
        return [(e.kind, e.outcome) for e in reversed(entries) if e.purge_id == purge_id]

    def traces(self, scope: Scope) -> dict[str, int]:
        return traces(self.stores, scope)
