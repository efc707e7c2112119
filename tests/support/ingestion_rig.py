"""The app's container on Azurite and a Graph simulator, for integration tests and bench: the real wiring,
with the clock, the queues and Graph's HTTP details given by the rig.

Queue messages are collected in memory (`rig.sent`, `rig.purges_queued`) instead of sent, so a local host
listening on the shared Azurite never picks up a test's work; `rig.drain()` runs the collected windows and
`rig.resolve_membership()` the membership function (a group change asks for it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from kiota_http.middleware.options import RetryHandlerOption

from functions.adapters.graph import GraphAdapter
from functions.adapters.graph_auth import SharedGraphTokens, StaticTokenCredential
from functions.adapters.queues import membership_message, schedule_message
from functions.adapters.storage import StorageClients
from functions.bootstrap import Container
from functions.domain.ingestion import WindowStatus
from functions.domain.optouts import GroupOptOutPolicy
from functions.services.consent import api_provenance
from functions.services.ingestion import WindowRequest
from functions.services.ports.ingestion import GraphReader
from functions.settings import Settings
from graphsim.server import GraphSimulator
from tests.conftest import base_env

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

    def enqueue_windows(self, messages: Iterable[dict[str, Any]]) -> None:
        for message in messages:
            self.send("ingest", message)

    def request_ingestion(self, tenant_id: str, now: datetime) -> bool:
        return self._request("schedule", tenant_id, "ingest", schedule_message(tenant_id))

    def request_membership(self, tenant_id: str, now: datetime) -> bool:
        return self._request("membership", tenant_id, "membership", membership_message(tenant_id))

    def request_refresh(self, tenant_id: str, user_id: str, now: datetime, delay_seconds: int) -> bool:
        message = {"type": "user.refresh", "tenantId": tenant_id, "userId": user_id}
        return self._request(f"refresh_{user_id}", tenant_id, "refresh", message)

    def refresh_taken(self, tenant_id: str, user_id: str) -> None:
        self.taken(f"refresh_{user_id}", tenant_id)

    def request_subscription_sync(self, tenant_id: str, now: datetime) -> bool:
        message = {"type": "subscriptions.sync", "tenantId": tenant_id}
        return self._request("subscriptions", tenant_id, "refresh", message)

    def poison(self, queue: str, body: str) -> None:
        self.sent.append({"queue": f"{queue}-poison", "body": body})

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
        flush_interactions: int = 2000,
        page_size: int = 1000,
        wrap_graph: Callable[[GraphReader], GraphReader] | None = None,
    ) -> None:
        self.sim, self.tenant_id, self.now = sim, tenant_id, now
        self.page_size = page_size
        self.wrap_graph = wrap_graph
        self.queues = CollectedQueues()
        # As the app's composition root does: the windows share the tenant's Graph token.
        self.graph_tokens = SharedGraphTokens(lambda _tenant: StaticTokenCredential(sim.token))
        settings = Settings.from_env(
            base_env(
                "UseDevelopmentStorage=true", CONTACT_HASH_KEY=HASH_KEY.decode(),
                GROUP_OPTOUT_EXISTING_DATA=group_policy,
            )
        )  # fmt: skip
        self.container = c = Container(
            settings, storage=storage, clock=lambda: self.now, work_queues=self.queues,
            graph_factory=self.worker_graph, tenant_list=self, ingestion_flush=flush_interactions,
        )  # fmt: skip
        self.consents, self.optouts, self.audit = c.consent_store, c.optout_store, c.audit_log
        self.purge_store, self.slices, self.contacts = c.purge_store, c.slice_store, c.contact_store
        self.cursors, self.introductions = c.cursor_store, c.introduction_store
        self.consent, self.optout, self.inclusion = c.consent_service, c.optout_service, c.inclusion
        self.worker, self.membership = c.ingestion_worker, c.membership_service
        self.scheduler, self.insights = c.scheduling_service, c.insight_service

    def tenant_ids(self) -> list[str]:
        return [self.tenant_id]

    def graph(self) -> GraphReader:
        return GraphAdapter(
            self.sim.graph_url,
            self.graph_tokens.credential_for,
            retry=RetryHandlerOption(delay=0, max_retries=5),
            page_size=self.page_size,
        )

    def worker_graph(self) -> GraphReader:
        adapter = self.graph()
        return self.wrap_graph(adapter) if self.wrap_graph else adapter

    # --- the story ----------------------------------------------------------------------------------------

    def grant(self) -> None:
        self.consent.grant(self.tenant_id, frozenset(), api_provenance(None, self.now))

    def revoke(self) -> None:
        self.consent.revoke(self.tenant_id, api_provenance(None, self.now))

    def opt_out(self, user_id: str) -> None:
        provenance = api_provenance(None, self.now)
        self.optout.set_user(self.tenant_id, user_id, opted_out=True, provenance=provenance)

    def opt_in(self, user_id: str) -> None:
        provenance = api_provenance(None, self.now)
        self.optout.set_user(self.tenant_id, user_id, opted_out=False, provenance=provenance)

    def opt_out_groups(self, *group_ids: str) -> None:
        provenance = api_provenance(None, self.now)
        self.optout.replace_groups(self.tenant_id, frozenset(group_ids), provenance)

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

    def with_parts(self, **parts: Any) -> Container:
        """The rig's container with some parts of its own (e.g. a backup store)."""
        shared = {
            name: getattr(self.container, name)
            for name in ("storage", "clock", "work_queues", "graph_factory", "tenant_list")
        }
        return Container(self.container.settings, **(shared | parts))

    def mailbox_users(self) -> list[str]:
        return [u.id for u in self.sim.tenant.users() if u.mail]
