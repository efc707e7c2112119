"""The daily backup: each tenant's per-user slices to blob `backups/{tenantId}/{userId}/{yyyy-mm-dd}.jsonl`.

Only tenants with a feature enabled, only included users (an excluded user's data is being purged, so no
new copy of it is made) and no scope whose purge is unfinished, streamed row by row. "Revocation wins" here
too: after a tenant's blobs are written the decision is taken again, and the blobs of today of any user who
became excluded meanwhile (or all of them, after a withdrawal) are deleted again, so a backup racing a purge
leaves nothing behind.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from datetime import datetime

from functions.domain.audit import AuditEntry
from functions.services.inclusion import InclusionReader
from functions.services.ports.consent import AuditLog, TenantList
from functions.services.ports.ingestion import BackupStore, CursorStore, SliceStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TenantBackup:
    tenant_id: str
    users: int
    records: int
    taken_back: int


class BackupService:
    def __init__(
        self,
        inclusion: InclusionReader,
        cursors: CursorStore,
        slices: SliceStore,
        *,
        backups: BackupStore,
        tenants: TenantList,
        audit: AuditLog,
    ) -> None:
        self._inclusion, self._cursors = inclusion, cursors
        self._slices, self._backups, self._tenants, self._audit = slices, backups, tenants, audit

    def back_up_all(self, now: datetime) -> list[TenantBackup]:
        return [result for t in self._tenants.tenant_ids() if (result := self.back_up_tenant(t, now))]

    def back_up_tenant(self, tenant_id: str, now: datetime) -> TenantBackup | None:
        tenant_id = tenant_id.lower()
        inclusion = self._inclusion.tenant(tenant_id, now)
        if not inclusion.tenant_decision().included:
            return None
        day = now.date()
        written: list[str] = []
        records = 0
        # Users come from the profiles scheduling saved: every included user who may have a slice has one.
        for user_id in sorted(self._cursors.tenant(tenant_id).profiles):
            if not inclusion.includes(user_id):
                continue
            rows = self._slices.interactions(tenant_id, user_id)
            first = next(rows, None)
            if first is None:
                continue  # nothing ingested for this user: no empty blob
            count = self._backups.write(tenant_id, user_id, day, itertools.chain([first], rows))
            written.append(user_id)
            records += count
        after = self._inclusion.tenant(tenant_id, now)
        taken_back = [u for u in written if not after.includes(u)]
        for user_id in taken_back:
            self._backups.delete(tenant_id, user_id, day)
        result = TenantBackup(tenant_id, len(written) - len(taken_back), records, len(taken_back))
        self._audit.append(
            AuditEntry(
                tenant_id=tenant_id, at=now, kind="backup.written", outcome="applied",
                counts={"users": result.users, "records": records, "takenBack": result.taken_back},
                detail=day.isoformat(),
            )
        )  # fmt: skip
        return result
