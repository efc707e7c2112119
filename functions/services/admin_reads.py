"""Read-only views for administrators: the purge ledger and the audit log of a tenant."""

from __future__ import annotations

from functions.domain.audit import AuditPage
from functions.domain.errors import NotFound
from functions.domain.purge import PurgeRecord
from functions.services.ports.consent import AuditLog
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
