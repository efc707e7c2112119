"""Read-only views for administrators: a tenant's purge ledger, audit log and ingestion progress."""

from __future__ import annotations

from datetime import datetime

from functions.domain.audit import AuditPage
from functions.domain.errors import NotFound
from functions.domain.progress import IngestionProgress, ingestion_progress
from functions.domain.purge import PurgeRecord
from functions.services.inclusion import InclusionReader
from functions.services.ports.consent import AuditLog
from functions.services.ports.ingestion import CursorStore
from functions.services.ports.purge import PurgeLedger, PurgePage


def purge_page(purges: PurgeLedger, tenant_id: str, limit: int, continuation: str | None) -> PurgePage:
    return purges.page(tenant_id, limit, continuation)


def purge_of(purges: PurgeLedger, tenant_id: str, purge_id: str) -> PurgeRecord:
    record = purges.get(tenant_id, purge_id)
    if record is None:
        raise NotFound(f"no purge {purge_id} for this tenant")
    return record


def audit_page(audit: AuditLog, tenant_id: str, limit: int, continuation: str | None) -> AuditPage:
    return audit.page(tenant_id, limit, continuation)


def ingestion_status(
    cursors: CursorStore, inclusion: InclusionReader, tenant_id: str, now: datetime
) -> IngestionProgress:
    """The tenant's cursors against one inclusion decision: only included users are counted or named."""
    t = tenant_id.lower()
    return ingestion_progress(t, cursors.tenant(t).cursors, inclusion.tenant(t, now), now)
