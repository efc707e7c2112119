"""The composition root: builds every port and service once, lazily, from settings.

Handlers call `container()`. Every part is one `cached_property`; any of them can be given by name instead,
`Container(settings, clock=..., slice_store=fake, graph_factory=...)`, and everything built from it uses
the override. Tests wire in-memory fakes this way (tests/support/container.py) and `install()` a container;
nothing else in the package constructs an Azure or Graph client.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import cached_property, partial

from functions.adapters.account_store import TableAccountStore
from functions.adapters.audit_store import TableAuditLog
from functions.adapters.backup_store import BlobBackupStore
from functions.adapters.consent_store import TableConsentStore
from functions.adapters.contact_store import TableContactStore
from functions.adapters.cursor_store import TableCursorStore
from functions.adapters.graph import GraphAdapter
from functions.adapters.graph_auth import SharedGraphTokens, credential_for_tenant
from functions.adapters.introduction_store import TableIntroductionStore
from functions.adapters.optout_store import TableOptOutStore
from functions.adapters.purge_queue import StoragePurgeQueue
from functions.adapters.purge_registry import purge_stores
from functions.adapters.purge_store import TablePurgeStore
from functions.adapters.queues import StorageWorkQueues
from functions.adapters.receipt_store import TableReceiptStore
from functions.adapters.settings_store import TableSettingsStore
from functions.adapters.signatures import WebhookVerifier
from functions.adapters.slice_store import TableSliceStore
from functions.adapters.storage import StorageClients
from functions.adapters.subscription_store import TableSubscriptionStore
from functions.adapters.tenant_list import TableTenantList
from functions.adapters.tokens import TokenValidator
from functions.domain.scope import Feature
from functions.domain.subscriptions import SubscriptionPolicy
from functions.services.backup import BackupService
from functions.services.consent import ConsentService, PurgeRequests
from functions.services.evidence import EvidenceService
from functions.services.inclusion import InclusionReader
from functions.services.ingestion import FLUSH_INTERACTIONS, IngestionWorker
from functions.services.insight_settings import InsightSettingsService
from functions.services.insights import InsightService
from functions.services.legacy import LegacyService
from functions.services.maintenance import MaintenanceService, MaintenanceStep, PurgeMaintenance
from functions.services.membership import GroupMembers, MembershipService
from functions.services.optouts import OptOutService
from functions.services.ports.consent import (
    AuditLog,
    ConsentStore,
    OptOutStore,
    ReceiptStore,
    TenantList,
)
from functions.services.ports.ingestion import (
    AccountStore,
    BackupStore,
    ContactStore,
    CursorStore,
    GraphFactory,
    IntroductionStore,
    SettingsStore,
    SliceStore,
)
from functions.services.ports.purge import MemberResolver, PurgeLedger, PurgeStores, SubscriptionRemoval
from functions.services.ports.queues import PurgeRedrive, WorkQueues
from functions.services.ports.subscriptions import SubscriptionGraphFactory, SubscriptionStore
from functions.services.purge import CompletionHook, PurgeService
from functions.services.restore import RestoreService
from functions.services.scheduling import ResumeAfterPurge, SchedulingService
from functions.services.shared_by_windows import DirectoryCache, MailboxSlots
from functions.services.subscription_purge import GraphSubscriptionRemoval, SubscriptionRows
from functions.services.subscriptions import NotificationSettings, SubscriptionService
from functions.services.webhooks import WebhookService
from functions.settings import Settings

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Container:
    """Everything the entry points need, built on first use. Add a part as one `cached_property`."""

    def __init__(self, settings: Settings, **overrides: object) -> None:
        self.settings = settings
        unknown = sorted(
            name for name in overrides if not isinstance(getattr(type(self), name, None), cached_property)
        )
        if unknown:
            raise TypeError(f"the container has no part named {', '.join(unknown)}")
        # A cached_property reads the instance dict first: an override is simply already "built".
        self.__dict__.update(overrides)

    def now(self) -> datetime:
        return self.clock()

    # --- the outside world --------------------------------------------------------------------------------

    @cached_property
    def clock(self) -> Clock:
        return utc_now

    @cached_property
    def storage(self) -> StorageClients:
        return StorageClients(self.settings.storage)

    @cached_property
    def graph_tokens(self) -> SharedGraphTokens:
        """The process's Graph tokens, one per tenant, shared by every reader the factories below build."""
        return SharedGraphTokens(partial(credential_for_tenant, self.settings))

    def _new_graph(self) -> GraphAdapter:
        """A new Graph reader: one per event loop (each queue invocation runs its own), the tokens shared."""
        return GraphAdapter.from_settings(self.settings, tokens=self.graph_tokens)

    @cached_property
    def graph_factory(self) -> GraphFactory:
        return self._new_graph

    @cached_property
    def subscription_graph_factory(self) -> SubscriptionGraphFactory:
        return self._new_graph

    @cached_property
    def token_validator(self) -> TokenValidator:
        s = self.settings
        return TokenValidator(s.auth_jwks_url, s.auth_audience, s.auth_issuer)

    @cached_property
    def webhook_verifier(self) -> WebhookVerifier:
        return WebhookVerifier(self.settings.webhook_secrets)

    @cached_property
    def work_queues(self) -> WorkQueues:
        return StorageWorkQueues(self.storage)

    # --- consent, opt-outs, webhooks, legacy forms --------------------------------------------------------

    @cached_property
    def consent_store(self) -> ConsentStore:
        return TableConsentStore(self.storage)

    @cached_property
    def optout_store(self) -> OptOutStore:
        return TableOptOutStore(self.storage)

    @cached_property
    def receipt_store(self) -> ReceiptStore:
        return TableReceiptStore(self.storage)

    @cached_property
    def audit_log(self) -> AuditLog:
        return TableAuditLog(self.storage)

    @cached_property
    def tenant_list(self) -> TenantList:
        return TableTenantList(self.storage)

    @cached_property
    def legacy_expiry(self) -> Mapping[Feature, datetime]:
        s = self.settings
        return {
            "relationship_analytics": s.legacy_relationship_analytics_expires_at,
            "who_knows_whom": s.legacy_who_knows_whom_expires_at,
        }

    @cached_property
    def purge_requests(self) -> PurgeRequests:
        return PurgeRequests(self.purge_store, self.work_queues, self.audit_log)

    @cached_property
    def evidence_service(self) -> EvidenceService:
        return EvidenceService(self.consent_store, self.optout_store, self.purge_store, self.audit_log)

    @cached_property
    def consent_service(self) -> ConsentService:
        return ConsentService(
            self.consent_store, self.optout_store, self.purge_requests, self.work_queues, self.audit_log,
            group_policy=self.settings.group_optout_existing_data, legacy_expiry=self.legacy_expiry,
        )  # fmt: skip

    @cached_property
    def optout_service(self) -> OptOutService:
        return OptOutService(
            self.optout_store, self.purge_requests, self.work_queues, self.audit_log,
            group_policy=self.settings.group_optout_existing_data,
        )  # fmt: skip

    @cached_property
    def webhook_service(self) -> WebhookService:
        return WebhookService(self.receipt_store, self.consent_service, self.optout_service, self.audit_log)

    @cached_property
    def legacy_service(self) -> LegacyService:
        return LegacyService(
            self.consent_store, self.consent_service, self.purge_requests, self.audit_log,
            legacy_expiry=self.legacy_expiry,
        )  # fmt: skip

    # --- who is in ----------------------------------------------------------------------------------------

    @cached_property
    def inclusion(self) -> InclusionReader:
        """Every part that touches a person's data asks this (functions/domain/inclusion.py)."""
        return InclusionReader(self.consent_store, self.optout_store, self.purge_store)

    @cached_property
    def membership_service(self) -> MembershipService:
        return MembershipService(
            self.consent_store, self.optout_store, self.cursor_store, self.work_queues,
            inclusion=self.inclusion, purge_requests=self.purge_requests, audit=self.audit_log,
            graph_factory=self.graph_factory,
            group_policy=self.settings.group_optout_existing_data, clock=self.clock,
        )  # fmt: skip

    # --- ingestion, insights, backups ---------------------------------------------------------------------

    @cached_property
    def cursor_store(self) -> CursorStore:
        return TableCursorStore(self.storage)

    @cached_property
    def slice_store(self) -> SliceStore:
        return TableSliceStore(self.storage)

    @cached_property
    def contact_store(self) -> ContactStore:
        return TableContactStore(self.storage)

    @cached_property
    def introduction_store(self) -> IntroductionStore:
        return TableIntroductionStore(self.storage)

    @cached_property
    def account_store(self) -> AccountStore:
        return TableAccountStore(self.storage)

    @cached_property
    def settings_store(self) -> SettingsStore:
        return TableSettingsStore(self.storage)

    @cached_property
    def backup_store(self) -> BackupStore:
        return BlobBackupStore(self.storage)

    @cached_property
    def ingestion_flush(self) -> int:
        """Interactions a window buffers before it writes: memory stays flat whatever the mailbox's size."""
        return FLUSH_INTERACTIONS

    @cached_property
    def ingestion_worker(self) -> IngestionWorker:
        return IngestionWorker(
            self.inclusion, self.slice_store, self.contact_store, self.cursor_store, self.account_store,
            requests=self.work_queues, audit=self.audit_log, graph_factory=self.graph_factory,
            contact_hash_key=self.settings.contact_hash_key, clock=self.clock,
            directories=DirectoryCache(), slots=MailboxSlots(), flush_interactions=self.ingestion_flush,
        )  # fmt: skip

    @cached_property
    def scheduling_service(self) -> SchedulingService:
        return SchedulingService(
            self.inclusion, self.membership_service, self.cursor_store, self.tenant_list,
            queues=self.work_queues, audit=self.audit_log, graph_factory=self.graph_factory,
        )  # fmt: skip

    @cached_property
    def backup_service(self) -> BackupService:
        return BackupService(
            self.inclusion, self.cursor_store, self.slice_store,
            backups=self.backup_store, tenants=self.tenant_list, audit=self.audit_log,
        )  # fmt: skip

    @cached_property
    def insight_service(self) -> InsightService:
        return InsightService(
            self.inclusion, self.contact_store, self.cursor_store, self.introduction_store,
            accounts=self.account_store, settings=self.settings_store,
            contact_hash_key=self.settings.contact_hash_key,
        )  # fmt: skip

    @cached_property
    def insight_settings(self) -> InsightSettingsService:
        return InsightSettingsService(self.settings_store, self.audit_log)

    # --- change notifications -----------------------------------------------------------------------------

    @cached_property
    def subscription_store(self) -> SubscriptionStore:
        return TableSubscriptionStore(self.storage)

    @cached_property
    def notification_settings(self) -> NotificationSettings:
        s = self.settings
        policy = SubscriptionPolicy(
            lifetime=timedelta(minutes=s.subscription_minutes),
            renew_before=timedelta(minutes=s.subscription_renew_minutes),
        )
        return NotificationSettings(
            s.graph_notifications, s.graph_notification_url, policy, s.refresh_coalesce_seconds
        )

    @cached_property
    def subscription_service(self) -> SubscriptionService:
        return SubscriptionService(
            self.inclusion, self.subscription_store, self.cursor_store, self.tenant_list,
            worker=self.ingestion_worker, queues=self.work_queues, audit=self.audit_log,
            graph_factory=self.subscription_graph_factory, settings=self.notification_settings,
        )  # fmt: skip

    # --- purge, restore -----------------------------------------------------------------------------------

    @cached_property
    def purge_store(self) -> PurgeLedger:
        return TablePurgeStore(self.storage)

    @cached_property
    def purge_stores(self) -> PurgeStores:
        return purge_stores(self.storage, first=(SubscriptionRows(self.subscription_store),))

    @cached_property
    def subscription_removal(self) -> SubscriptionRemoval | None:
        """The purge's removal of a scope's subscriptions at Graph (None: a purge never asks Graph)."""
        return GraphSubscriptionRemoval(
            self.subscription_store, self.subscription_graph_factory, self.notification_settings
        )

    @cached_property
    def member_resolver(self) -> MemberResolver:
        return GroupMembers(self.graph_factory)

    @cached_property
    def purge_queue(self) -> PurgeRedrive:
        return StoragePurgeQueue(self.storage)

    @cached_property
    def purge_completed(self) -> CompletionHook:
        """What runs when a purge completes: ingestion resumes for a scope that is included again."""
        return ResumeAfterPurge(self.inclusion, self.work_queues)

    @cached_property
    def purge_service(self) -> PurgeService:
        return PurgeService(
            self.purge_store, self.purge_stores, self.audit_log, self.member_resolver,
            on_completed=self.purge_completed, subscriptions=self.subscription_removal,
        )  # fmt: skip

    @cached_property
    def restore_service(self) -> RestoreService:
        return RestoreService(
            self.backup_store, self.slice_store, self.contact_store, self.account_store,
            purges=self.purge_store, purge=self.purge_service, inclusion=self.inclusion, audit=self.audit_log,
        )  # fmt: skip

    # --- maintenance --------------------------------------------------------------------------------------

    @cached_property
    def purge_maintenance(self) -> PurgeMaintenance:
        return PurgeMaintenance(self.purge_store, self.purge_queue)

    @cached_property
    def maintenance_steps(self) -> list[MaintenanceStep]:
        """What the maintenance timer runs, in order; add a step as one line."""
        return [
            ("purges", self.purge_maintenance.run),
            ("legacy-expiry", self.legacy_service.expire_due),
        ]

    @cached_property
    def maintenance_service(self) -> MaintenanceService:
        return MaintenanceService(self.maintenance_steps)


_container: Container | None = None
_lock = threading.Lock()


def container() -> Container:
    """The process-wide container, built from the environment on first use."""
    global _container  # noqa: PLW0603  (the one process-wide singleton, guarded by a lock)
    if _container is None:
        with _lock:
            if _container is None:
                _container = Container(Settings.from_env(os.environ))
    return _container


def install(replacement: Container | None) -> None:
    """Use `replacement` from now on (tests); `None` makes the next call rebuild from the environment."""
    global _container  # noqa: PLW0603
    with _lock:
        _container = replacement
