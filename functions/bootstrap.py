"""The composition root: builds clients and services once, lazily, from settings.

Handlers call `container()`; tests build their own `Container` (with their own settings, clock or clients)
and `install()` it. Nothing else in the package constructs an Azure or Graph client.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property

from functions.adapters.audit_store import TableAuditLog
from functions.adapters.backup_store import BlobBackupStore
from functions.adapters.consent_store import TableConsentStore
from functions.adapters.contact_store import TableContactStore
from functions.adapters.cursor_store import TableCursorStore
from functions.adapters.graph import GraphAdapter
from functions.adapters.group_members import GraphMemberResolver
from functions.adapters.introduction_store import TableIntroductionStore
from functions.adapters.optout_store import TableOptOutStore
from functions.adapters.purge_queue import StoragePurgeQueue
from functions.adapters.purge_registry import PurgeStores, purge_stores
from functions.adapters.purge_store import TablePurgeStore
from functions.adapters.queues import StorageWorkQueues
from functions.adapters.receipt_store import TableReceiptStore
from functions.adapters.signatures import WebhookVerifier
from functions.adapters.slice_store import TableSliceStore
from functions.adapters.storage import StorageClients
from functions.adapters.tenant_list import TableTenantList
from functions.adapters.tokens import TokenValidator
from functions.services.backup import BackupService
from functions.services.consent import ConsentService, PurgeRequests
from functions.services.inclusion import InclusionReader
from functions.services.ingestion import DirectoryCache, GraphReader, IngestionWorker, MailboxSlots
from functions.services.insights import InsightService
from functions.services.legacy import LegacyService
from functions.services.maintenance import MaintenanceService, MaintenanceStep, PurgeMaintenance
from functions.services.membership import MembershipService
from functions.services.optouts import OptOutService
from functions.services.purge import PurgeService
from functions.services.restore import RestoreService
from functions.services.scheduling import ResumeAfterPurge, SchedulingService
from functions.services.webhooks import WebhookService
from functions.settings import Settings

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Container:
    """Everything the entry points need, built on first use. Add a service as one `cached_property`."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = utc_now,
        storage: StorageClients | None = None,
    ) -> None:
        self.settings = settings
        self.now = clock
        self._storage = storage

    @cached_property
    def storage(self) -> StorageClients:
        return self._storage or StorageClients(self.settings.storage)

    # --- consent, opt-outs, webhooks (issue 3) -----------------------------------------------------------

    @cached_property
    def token_validator(self) -> TokenValidator:
        s = self.settings
        return TokenValidator(s.auth_jwks_url, s.auth_audience, s.auth_issuer)

    @cached_property
    def webhook_verifier(self) -> WebhookVerifier:
        return WebhookVerifier(self.settings.webhook_secrets)

    @cached_property
    def consent_store(self) -> TableConsentStore:
        return TableConsentStore(self.storage)

    @cached_property
    def optout_store(self) -> TableOptOutStore:
        return TableOptOutStore(self.storage)

    @cached_property
    def receipt_store(self) -> TableReceiptStore:
        return TableReceiptStore(self.storage)

    @cached_property
    def purge_store(self) -> TablePurgeStore:
        return TablePurgeStore(self.storage)

    @cached_property
    def audit_log(self) -> TableAuditLog:
        return TableAuditLog(self.storage)

    @cached_property
    def work_queues(self) -> StorageWorkQueues:
        return StorageWorkQueues(self.storage)

    @cached_property
    def purge_requests(self) -> PurgeRequests:
        return PurgeRequests(self.purge_store, self.work_queues, self.audit_log)

    @cached_property
    def consent_service(self) -> ConsentService:
        s = self.settings
        return ConsentService(
            self.consent_store, self.optout_store, self.purge_requests, self.work_queues, self.audit_log,
            group_policy=s.group_optout_existing_data,
            legacy_expiry={
                "relationship_analytics": s.legacy_relationship_analytics_expires_at,
                "who_knows_whom": s.legacy_who_knows_whom_expires_at,
            },
        )  # fmt: skip

    @cached_property
    def optout_service(self) -> OptOutService:
        return OptOutService(
            self.optout_store, self.purge_requests, self.work_queues, self.audit_log,
            group_policy=self.settings.group_optout_existing_data,
        )  # fmt: skip

    @cached_property
    def inclusion(self) -> InclusionReader:
        """Who is in: every part that touches a person's data asks this (functions/domain/inclusion.py)."""
        return InclusionReader(self.consent_store, self.optout_store, self.purge_store)

    @cached_property
    def membership_service(self) -> MembershipService:
        return MembershipService(
            self.consent_store, self.optout_store, self.cursor_store, self.work_queues,
            purge_requests=self.purge_requests, audit=self.audit_log, graph_factory=self.graph,
            group_policy=self.settings.group_optout_existing_data,
        )  # fmt: skip

    @cached_property
    def webhook_service(self) -> WebhookService:
        return WebhookService(
            self.receipt_store, self.consent_service, self.optout_service, self.audit_log
        )  # fmt: skip

    # --- ingestion, insights, backups (issue 4) ------------------------------------------------------------

    @cached_property
    def slice_store(self) -> TableSliceStore:
        return TableSliceStore(self.storage)

    @cached_property
    def contact_store(self) -> TableContactStore:
        return TableContactStore(self.storage)

    @cached_property
    def cursor_store(self) -> TableCursorStore:
        return TableCursorStore(self.storage)

    @cached_property
    def introduction_store(self) -> TableIntroductionStore:
        return TableIntroductionStore(self.storage)

    @cached_property
    def backup_store(self) -> BlobBackupStore:
        return BlobBackupStore(self.storage)

    @cached_property
    def tenant_list(self) -> TableTenantList:
        return TableTenantList(self.storage)

    def graph(self) -> GraphReader:
        """A new Graph adapter: one per event loop (each queue invocation runs its own)."""
        return GraphAdapter.from_settings(self.settings)

    @cached_property
    def ingestion_worker(self) -> IngestionWorker:
        return IngestionWorker(
            self.inclusion, self.slice_store, self.contact_store, self.cursor_store,
            requests=self.work_queues, audit=self.audit_log, graph_factory=self.graph,
            contact_hash_key=self.settings.contact_hash_key, clock=self.now,
            directories=DirectoryCache(), slots=MailboxSlots(),
        )  # fmt: skip

    @cached_property
    def scheduling_service(self) -> SchedulingService:
        return SchedulingService(
            self.inclusion, self.membership_service, self.cursor_store, self.tenant_list,
            queues=self.work_queues, requests=self.work_queues, audit=self.audit_log,
            graph_factory=self.graph,
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
            self.inclusion, self.contact_store, self.cursor_store,
            self.introduction_store, contact_hash_key=self.settings.contact_hash_key,
        )  # fmt: skip

    # --- purge and maintenance (issue 5) -------------------------------------------------------------------

    @cached_property
    def purge_stores(self) -> PurgeStores:
        return purge_stores(self.storage)

    @cached_property
    def purge_queue(self) -> StoragePurgeQueue:
        return StoragePurgeQueue(self.storage)

    @cached_property
    def purge_service(self) -> PurgeService:
        members = GraphMemberResolver(GraphAdapter.from_settings(self.settings))
        resume = ResumeAfterPurge(self.inclusion, self.work_queues)
        return PurgeService(self.purge_store, self.purge_stores, self.audit_log, members, on_completed=resume)

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

    # --- legacy consent life cycle (issue 6) ---------------------------------------------------------------

    @cached_property
    def legacy_service(self) -> LegacyService:
        s = self.settings
        return LegacyService(
            self.consent_store, self.consent_store, self.consent_service, self.purge_requests, self.audit_log,
            legacy_expiry={
                "relationship_analytics": s.legacy_relationship_analytics_expires_at,
                "who_knows_whom": s.legacy_who_knows_whom_expires_at,
            },
        )  # fmt: skip

    @cached_property
    def maintenance_service(self) -> MaintenanceService:
        return MaintenanceService(self.maintenance_steps)

    @cached_property
    def restore_service(self) -> RestoreService:
        return RestoreService(
            self.backup_store, self.slice_store, self.contact_store, self.purge_store, self.purge_service,
            inclusion=self.inclusion, audit=self.audit_log,
        )  # fmt: skip


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
