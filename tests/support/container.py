"""The app's own composition root (`functions.bootstrap.Container`) with in-memory ports: the one wiring
every unit test uses. Tests never construct a service themselves; they pass fakes by name and ask the
container for what they test.

    c = memory_container(group_policy="retain", clock=Clock(T0))
    c.consent_service.grant(...)
    c.ingestion_worker.run(...)

`Services`, `PurgeWorld` and `IngestionWorld` are the same container seen from the consent side, from the
purge and from ingestion, with the names the tests read (`services.consents`, `world.ledger`, ...).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from functions.bootstrap import Container
from functions.domain.ingestion import WindowStatus
from functions.domain.metadata import DirectoryUser, MeetingMeta, MessageMeta
from functions.domain.optouts import GroupOptOutPolicy
from functions.domain.purge import PurgeRecord
from functions.domain.scope import Scope
from functions.services.consent import api_provenance
from functions.services.ingestion import WindowRequest
from functions.services.ports.purge import PurgeStores
from functions.services.subscription_purge import SubscriptionRows
from functions.settings import Settings
from tests.conftest import base_env
from tests.support.memory_ingestion import (
    DirectoryGraph,
    MemoryAccountStore,
    MemoryBackupStore,
    MemoryContactStore,
    MemoryCursorStore,
    MemoryIntroductionStore,
    MemorySettingsStore,
    MemorySliceStore,
)
from tests.support.memory_stores import (
    MemoryAuditLog,
    MemoryConsentStore,
    MemoryOptOutStore,
    MemoryPurgeLedger,
    MemoryQueues,
    MemoryReceiptStore,
)
from tests.support.purge_fakes import (
    AfterEachStep,
    Clock,
    MemoryPurgeQueue,
    MemoryScopedStore,
    StaticMembers,
    StepHook,
)

# Never reached: every port that would use them is in memory.
_NO_STORAGE = "UseDevelopmentStorage=true"


def app_settings(**values: str) -> Settings:
    """The settings of the tests' app (tests/conftest.py `base_env`), with `values` on top."""
    return Settings.from_env(base_env(_NO_STORAGE, **values))


def memory_container(
    *, group_policy: GroupOptOutPolicy = "purge", settings: Settings | None = None, **overrides: Any
) -> Container:
    """The real wiring over in-memory ports; any part can be given instead (`clock=`, `slice_store=`, ...)."""
    consents = overrides.pop("consent_store", None) or MemoryConsentStore()
    parts: dict[str, Any] = {
        "consent_store": consents,
        "tenant_list": consents,
        "optout_store": MemoryOptOutStore(),
        "receipt_store": MemoryReceiptStore(),
        "audit_log": MemoryAuditLog(),
        "purge_store": MemoryPurgeLedger(),
        "work_queues": MemoryQueues(),
        "purge_queue": MemoryPurgeQueue(),
        "member_resolver": StaticMembers(),
        "cursor_store": MemoryCursorStore(),
        "slice_store": MemorySliceStore(),
        "contact_store": MemoryContactStore(),
        "introduction_store": MemoryIntroductionStore(),
        "backup_store": MemoryBackupStore(),
        "account_store": MemoryAccountStore(),
        "settings_store": MemorySettingsStore(),
        "graph_factory": _no_graph,
    }
    parts.update(overrides)
    if "purge_stores" not in parts:
        names = ("account_store", "slice_store", "contact_store", "cursor_store", "introduction_store")
        live = tuple(parts[name] for name in names)
        parts["purge_stores"] = PurgeStores(live, (parts["backup_store"],))
    if "subscription_store" in parts:
        # Given subscriptions, the purge deletes their rows first, as the app's own wiring does, and the
        # container builds the removal at Graph from the store, `subscription_graph_factory` and the settings.
        stores = parts["purge_stores"]
        if not stores.first:
            first = (SubscriptionRows(parts["subscription_store"]),)
            parts["purge_stores"] = PurgeStores(stores.live, stores.backups, first=first)
    else:
        parts.setdefault("subscription_removal", None)  # no subscriptions: the purge never asks Graph
    return Container(settings or app_settings(GROUP_OPTOUT_EXISTING_DATA=group_policy), **parts)


def _no_graph() -> DirectoryGraph:
    return DirectoryGraph([])


class Services:
    """The consent, opt-out and webhook side of a memory container, by the names its tests use."""

    def __init__(self, group_policy: GroupOptOutPolicy = "purge", **overrides: Any) -> None:
        self.container = c = memory_container(group_policy=group_policy, **overrides)
        self.consents, self.optouts, self.purges = c.consent_store, c.optout_store, c.purge_store
        self.audit, self.receipts, self.queues = c.audit_log, c.receipt_store, c.work_queues
        self.consent, self.optout, self.webhooks = c.consent_service, c.optout_service, c.webhook_service
        self.inclusion, self.legacy = c.inclusion, c.legacy_service

    def exclude_by_group(self, tenant_id: str, user_ids: Iterable[str], now: datetime) -> str:
        """Opt out a new group holding `user_ids` and store its resolution; the group's ID."""
        group = str(uuid.uuid4())
        listed = self.optouts.load_groups(tenant_id).groups.ids
        provenance = api_provenance(None, now)
        self.optout.replace_groups(tenant_id, listed | {group}, provenance)
        members = {u: set(g) for u, g in self.optouts.membership(tenant_id).members.items()}
        for user in user_ids:
            members.setdefault(user.lower(), set()).add(group)
        self.optouts.resolved(tenant_id, members, now)
        return group


class PurgeWorld:
    """The purge side of a memory container: counting stores, a ledger, a clock the test moves, and a hook
    between steps (`after_step`) for crashes, restarts and second deliveries."""

    STORE_NAMES = ("slices", "contacts", "cursors", "introductions")
    FENCE_DELAY = timedelta(minutes=12)

    def __init__(self, start: datetime, *, after_step: StepHook | None = None) -> None:
        self.clock = Clock(start)
        self.live = {name: MemoryScopedStore(name) for name in self.STORE_NAMES}
        self.backups = MemoryScopedStore("backups")
        self.steps = AfterEachStep(MemoryAuditLog(), after_step)
        self.container = c = memory_container(
            clock=self.clock, audit_log=self.steps,
            purge_stores=PurgeStores(tuple(self.live.values()), (self.backups,)),
            purge_completed=lambda _record, _at: False,
        )  # fmt: skip
        self.ledger, self.queue, self.members = c.purge_store, c.purge_queue, c.member_resolver
        self.audit = self.steps.inner
        self.service, self.maintenance = c.purge_service, c.purge_maintenance
        self.fence_delay = self.FENCE_DELAY

    @property
    def stores(self) -> tuple[MemoryScopedStore, ...]:
        return (*self.live.values(), self.backups)

    def seed(self, tenant_id: str, user_id: str, per_store: int = 3) -> None:
        for store in self.stores:
            store.put(tenant_id, user_id, per_store)

    def count(self, tenant_id: str, user_id: str | None = None) -> int:
        scope = Scope("tenant", tenant_id) if user_id is None else Scope("user", tenant_id, user_id=user_id)
        return sum(store.count_scope(scope) for store in self.stores)

    def run(self, record: PurgeRecord) -> None:
        self.service.run(record.tenant_id, record.id, self.clock)

    def run_to_completion(self, record: PurgeRecord) -> PurgeRecord:
        """The first pass, then the sweep once the fence has passed (re-queued by the maintenance timer)."""
        self.run(record)
        self.clock.advance(self.fence_delay)
        self.run(record)
        final = self.ledger.get(record.tenant_id, record.id)
        assert final is not None
        return final


class IngestionWorld:
    """The ingestion side of a memory container for one fresh tenant: its directory and mailboxes in a
    `DirectoryGraph` (users `user0@contoso.com`, ...; `contoso.com` verified), a clock the test moves, and the
    steps of the tenant's story through the app's own services (grant, opt out, schedule, run the windows).

        world = IngestionWorld(T0, users=2)
        world.grant()
        world.deliver(world.users[0], message(world.users[0], "buyer@fabrikam.example", [...], T0 - DAY))
        world.schedule()
        world.drain()
    """

    def __init__(
        self,
        start: datetime,
        users: int = 3,
        *,
        group_policy: GroupOptOutPolicy = "purge",
        without_mailbox: Iterable[int] = (),
        **overrides: Any,
    ) -> None:
        """`users` in the directory (`without_mailbox`: the indexes of those without one); `overrides`: any
        other part of the container (`ingestion_flush=1`, ...), the stores named here being the world's."""
        self.tenant_id = str(uuid.uuid4())
        self.clock = Clock(start)
        self.users = [str(uuid.uuid4()) for _ in range(users)]
        no_mail = set(without_mailbox)
        self.graph = DirectoryGraph([
            DirectoryUser(u, f"User {i}", "" if i in no_mail else upn, upn)
            for i, u in enumerate(self.users)
            for upn in [f"user{i}@contoso.com"]
        ])  # fmt: skip
        self.slices, self.contacts, self.cursors = (
            MemorySliceStore(),
            MemoryContactStore(),
            MemoryCursorStore(),
        )
        self.accounts, self.backups = MemoryAccountStore(), MemoryBackupStore()
        self.queues, self.audit = MemoryQueues(), MemoryAuditLog()
        self.container = c = memory_container(
            group_policy=group_policy, clock=self.clock, graph_factory=lambda: self.graph,
            slice_store=self.slices, contact_store=self.contacts, cursor_store=self.cursors,
            account_store=self.accounts, backup_store=self.backups, work_queues=self.queues,
            audit_log=self.audit, **overrides,
        )  # fmt: skip
        self.worker, self.scheduler = c.ingestion_worker, c.scheduling_service
        self.backup, self.restore = c.backup_service, c.restore_service
        self.hash_key = c.settings.contact_hash_key

    def address(self, user_id: str) -> str:
        return f"user{self.users.index(user_id)}@contoso.com"

    def now(self) -> datetime:
        return self.clock()

    # --- the directory and the mailboxes --------------------------------------------------------------------

    def deliver(self, user_id: str, *items: MessageMeta | MeetingMeta) -> None:
        """One more page of the user's mail and/or calendar (what a next delta round would find)."""
        mail = [i for i in items if isinstance(i, MessageMeta)]
        meetings = [i for i in items if isinstance(i, MeetingMeta)]
        if mail:
            self.graph.mail.setdefault(user_id, []).append(mail)
        if meetings:
            self.graph.meetings.setdefault(user_id, []).append(meetings)

    def group(self, members: Iterable[str]) -> str:
        """A new group of the directory holding `members`; its ID."""
        group_id = str(uuid.uuid4())
        self.graph.members[group_id] = set(members)
        return group_id

    # --- the story ------------------------------------------------------------------------------------------

    def grant(self, groups: Iterable[str] = ()) -> None:
        provenance = api_provenance(None, self.now())
        self.container.consent_service.grant(self.tenant_id, frozenset(groups), provenance)

    def revoke(self) -> None:
        self.container.consent_service.revoke(self.tenant_id, api_provenance(None, self.now()))

    def opt_out(self, user_id: str, *, opted_out: bool = True) -> None:
        provenance = api_provenance(None, self.now())
        self.container.optout_service.set_user(
            self.tenant_id, user_id, opted_out=opted_out, provenance=provenance
        )

    def opt_out_groups(self, *group_ids: str) -> None:
        """Replace the opted-out group list; nobody is decided until the membership is resolved."""
        provenance = api_provenance(None, self.now())
        self.container.optout_service.replace_groups(self.tenant_id, frozenset(group_ids), provenance)

    def resolve_membership(self) -> None:
        """What the `membership` queue function does with the request a group change sent."""
        self.container.membership_service.resolve(self.tenant_id, self.now())

    def window(self, user_id: str, name: str, start: datetime, end: datetime | None) -> WindowRequest:
        return WindowRequest(self.tenant_id, user_id, name, start, end)

    def schedule(self) -> list[WindowRequest]:
        """A scheduling run of the tenant; the windows it queued (taken off the queue)."""
        self.scheduler.schedule_tenant(self.tenant_id, self.now())
        queued = [WindowRequest.from_message(m) for m in self.queues.windows]
        self.queues.windows.clear()
        return queued

    def drain(self, requests: Sequence[WindowRequest]) -> list[WindowStatus]:
        """The ingestion worker run on each window, one after the other."""
        return [self.worker.run(request) for request in requests]
