"""Ingestion, scheduling and insights wired to Azurite and a Graph simulator, for integration tests and bench.

Queue messages are collected in memory (`rig.sent`, `rig.purges_queued`) instead of sent, so a local host
listening on the shared Azurite never picks up a test's work; `rig.drain()` runs the collected windows and
`rig.resolve_membership()` the membership function (a group change asks for it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from kiota_http.middleware.options import RetryHandlerOption

from functions.adapters.audit_store import TableAuditLog
from functions.adapters.consent_store import TableConsentStore
from functions.adapters.contact_store import TableContactStore
from functions.adapters.cursor_store import TableCursorStore
from functions.adapters.graph import GraphAdapter
from functions.adapters.graph_auth import StaticTokenCredential
from functions.adapters.introduction_store import TableIntroductionStore
from functions.adapters.optout_store import TableOptOutStore
from functions.adapters.purge_store import TablePurgeStore
from functions.adapters.queues import membership_message, schedule_message
from functions.adapters.slice_store import TableSliceStore
from functions.adapters.storage import StorageClients
from functions.domain.ingestion import WindowStatus
from functions.services.consent import ConsentService, PurgeRequests, api_provenance
from functions.services.inclusion import InclusionReader
from functions.services.ingestion import GraphReader, IngestionWorker, WindowRequest
from functions.services.insights import InsightService
from functions.services.membership import MembershipService
from functions.services.optouts import OptOutService
from functions.services.scheduling import SchedulingService
from functions.settings import GroupOptOutPolicy
from graphsim.server import GraphSimulator
from tests.support.memory_stores import LEGACY_EXPIRY

HASH_KEY = b"rig-contact-hash-key-of-at-least-32-bytes"


class CollectedQueues:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.purges: list[dict[str, str]] = []
        self.pending: set[tuple[str, str]] = set()

    def send(self, queue: str, message: Mapping[str, Any]) -> None:
        self.sent.append({"queue": queue, **message})

    def enqueue_purge(self, tenant_id: str, purge_id: str) -> None:
        self.purges.append({"tenantId": tenant_id, "purgeId": purge_id})

    def request_ingestion(self, tenant_id: str, now: datetime) -> bool:
        return self._request("schedule", tenant_id, "ingest", schedule_message(tenant_id))

    def request_membership(self, tenant_id: str, now: datetime) -> bool:
        return self._request("membership", tenant_id, "membership", membership_message(tenant_id))

    def taken(self, kind: str, tenant_id: str) -> None:
        self.pending.discard((kind, tenant_id))

    def _request(self, kind: str, tenant_id: str, queue: str, message: dict[str, Any]) -> bool:
        if (kind, tenant_id) in self.pending:
            return False
        self.pending.add((kind, tenant_id))
        self.send(queue, message)
        return True


class Rig:
    def __init__(
        self,
        storage: StorageClients,
        sim: GraphSimulator,
        tenant_id: str,
        *,
        now: datetime,
        group_policy: GroupOptOutPolicy = "purge",
        flush_facts: int = 2000,
        page_size: int = 1000,
        wrap_graph: Callable[[GraphReader], GraphReader] | None = None,
    ) -> None:
        self.sim, self.tenant_id, self.now = sim, tenant_id, now
        self.page_size = page_size
        self.wrap_graph = wrap_graph
        self.consents, self.optouts = TableConsentStore(storage), TableOptOutStore(storage)
        self.audit, self.purge_store = TableAuditLog(storage), TablePurgeStore(storage)
        self.slices, self.contacts = TableSliceStore(storage), TableContactStore(storage)
        self.cursors, self.introductions = TableCursorStore(storage), TableIntroductionStore(storage)
        self.queues = CollectedQueues()
        requests = PurgeRequests(self.purge_store, self.queues, self.audit)
        self.consent = ConsentService(
            self.consents, self.optouts, requests, self.queues, self.audit,
            group_policy=group_policy, legacy_expiry=LEGACY_EXPIRY,
        )  # fmt: skip
        self.optout = OptOutService(
            self.optouts, requests, self.queues, self.audit, group_policy=group_policy
        )
        self.inclusion = InclusionReader(self.consents, self.optouts, self.purge_store)
        self.worker = IngestionWorker(
            self.inclusion, self.slices, self.contacts, self.cursors,
            requests=self.queues, audit=self.audit, graph_factory=self.worker_graph,
            contact_hash_key=HASH_KEY, clock=lambda: self.now,
            flush_facts=flush_facts,
        )  # fmt: skip
        self.membership = MembershipService(
            self.consents, self.optouts, self.cursors, self.queues,
            purge_requests=requests, audit=self.audit, graph_factory=self.graph, group_policy=group_policy,
        )  # fmt: skip
        self.scheduler = SchedulingService(
            self.inclusion, self.membership, self.cursors, self,
            queues=self.queues, requests=self.queues, audit=self.audit, graph_factory=self.graph,
        )  # fmt: skip
        self.insights = InsightService(
            self.inclusion, self.contacts, self.cursors, self.introductions, contact_hash_key=HASH_KEY
        )

    def tenant_ids(self) -> list[str]:
        return [self.tenant_id]

    def graph(self) -> GraphReader:
        return GraphAdapter(
            self.sim.graph_url,
            lambda _tenant: StaticTokenCredential(self.sim.token),
            retry=RetryHandlerOption(delay=0, max_retries=5),
            page_size=self.page_size,
        )

    def worker_graph(self) -> GraphReader:
        adapter = self.graph()
        return self.wrap_graph(adapter) if self.wrap_graph else adapter

    # --- the story ----------------------------------------------------------------------------------------

    def grant(self) -> None:
        self.consent.grant(self.tenant_id, frozenset(), api_provenance(None, self.now), enforce_order=False)

    def revoke(self) -> None:
        self.consent.revoke(self.tenant_id, api_provenance(None, self.now), enforce_order=False)

    def opt_out(self, user_id: str) -> None:
        provenance = api_provenance(None, self.now)
        self.optout.set_user(
            self.tenant_id, user_id, opted_out=True, provenance=provenance, enforce_order=False
        )

    def opt_in(self, user_id: str) -> None:
        provenance = api_provenance(None, self.now)
        self.optout.set_user(
            self.tenant_id, user_id, opted_out=False, provenance=provenance, enforce_order=False
        )

    def opt_out_groups(self, *group_ids: str) -> None:
        provenance = api_provenance(None, self.now)
        self.optout.replace_groups(self.tenant_id, frozenset(group_ids), provenance, enforce_order=False)

    def resolve_membership(self) -> None:
        """What the `membership` queue function does with the request a group change sent."""
        self.queues.sent[:] = [m for m in self.queues.sent if m["queue"] != "membership"]
        self.membership.resolve(self.tenant_id, self.now)

    def schedule(self) -> list[WindowRequest]:
        self.queues.sent.clear()
        self.scheduler.schedule_tenant(self.tenant_id, self.now)
        return self.pending()

    def pending(self) -> list[WindowRequest]:
        return [WindowRequest.from_message(m) for m in self.queues.sent if m.get("type") == "window"]

    def drain(self, requests: list[WindowRequest] | None = None) -> list[WindowStatus]:
        todo = self.pending() if requests is None else requests
        self.queues.sent.clear()
        # Several windows at once, as the host runs a batch of queue messages.
        with ThreadPoolExecutor(max_workers=6) as pool:
            return list(pool.map(self.worker.run, todo))

    def mailbox_users(self) -> list[str]:
        return [u.id for u in self.sim.tenant.users() if u.mail]
