"""Restore a tenant's backup of one day, then re-apply every purge recorded since, so that a restore never
brings a purged subject back.

1. Every blob `backups/{tenantId}/{userId}/{day}.jsonl` of the tenant whose user the inclusion decision
   (functions/domain/inclusion.py) includes now is read and its records written back to the user's slice and
   the contact index (upserts: restoring twice is harmless). A user excluded now (or the whole tenant, after
   a withdrawal) is not restored at all: a restore never writes what a purge would have to take away.
2. Every purge of the tenant that may postdate the backup is re-applied (`PurgeService.reapply`: delete the
   scope from every store, then verify zero): those requested on or after the day began (UTC), and those not
   completed by then. Erring on the early side costs nothing but re-ingestion; erring late would resurrect
   someone who had opted out or a tenant that had withdrawn.
3. The restore and each re-applied purge are audited with counts.

Run it with `python tools/restore.py --tenant <tenantId> --day 2026-11-20` (docs/purge.md, "Restoring a
backup").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from functions.domain.accounts import account_pairs
from functions.domain.audit import AuditEntry
from functions.domain.errors import AppError
from functions.domain.purge import PurgeRecord
from functions.services.inclusion import InclusionReader
from functions.services.ports.consent import AuditLog
from functions.services.ports.ingestion import AccountStore, BackupStore, ContactStore, SliceStore
from functions.services.ports.purge import PurgeLedger
from functions.services.purge import PurgeIncomplete, PurgeService

RESTORE_RUN = "restore"  # the `run` tag of restored rows (ingestion tags its rows with its run ID)


@dataclass(frozen=True, slots=True)
class RestoreReport:
    tenant_id: str
    day: date
    users: int
    records: int
    skipped: int  # users with a backup of that day who are not included now
    reapplied: tuple[str, ...]  # purge IDs, oldest request first
    deleted_again: Mapping[str, int]  # what the re-applied purges deleted, per store


class RestoreService:
    def __init__(
        self,
        backups: BackupStore,
        slices: SliceStore,
        contacts: ContactStore,
        accounts: AccountStore,
        *,
        purges: PurgeLedger,
        purge: PurgeService,
        inclusion: InclusionReader,
        audit: AuditLog,
    ) -> None:
        self._inclusion = inclusion
        self._backups, self._slices, self._contacts = backups, slices, contacts
        self._accounts = accounts
        self._purges, self._purge, self._audit = purges, purge, audit

    def restore(self, tenant_id: str, day: date, now: datetime) -> RestoreReport:
        tenant_id = tenant_id.lower()
        users = records = skipped = 0
        inclusion = self._inclusion.tenant(tenant_id, now)
        for user_id in self._backups.users_with_backup(tenant_id, day):
            if not inclusion.includes(user_id):
                skipped += 1
                continue
            interactions = self._backups.read(tenant_id, user_id, day)
            self._slices.write(tenant_id, user_id, interactions, RESTORE_RUN)
            self._contacts.write(tenant_id, interactions, RESTORE_RUN)
            self._accounts.add(tenant_id, account_pairs(interactions))
            users, records = users + 1, records + len(interactions)
        counts = {"users": users, "records": records, "skippedExcluded": skipped}
        detail = f"backup of {day.isoformat()}"
        self._audit.append(
            AuditEntry(tenant_id, now, "backup.restored", "applied", counts=counts, detail=detail)
        )
        reapplied: list[str] = []
        deleted: dict[str, int] = {}
        unfinished: list[str] = []
        for record in sorted(self._since(tenant_id, day), key=lambda r: (r.requested_at, r.id)):
            try:
                counts = self._purge.reapply(record, now)
            except AppError as error:  # incomplete, storage or Graph failing: the others still go
                # Stopping here would leave restored what every later purge deletes.
                unfinished.append(f"purge {record.id}: {type(error).__name__}: {error}")
                continue
            for store, count in counts.items():
                deleted[store] = deleted.get(store, 0) + count
            reapplied.append(record.id)
        if unfinished:
            raise PurgeIncomplete(
                "; ".join(unfinished) + " (every other purge was re-applied; run the restore again)"
            )
        return RestoreReport(tenant_id, day, users, records, skipped, tuple(reapplied), deleted)

    def _since(self, tenant_id: str, day: date) -> list[PurgeRecord]:
        start = datetime.combine(day, time(0), tzinfo=UTC)
        return [
            r
            for r in self._purges.list(tenant_id)
            if r.requested_at >= start or r.completed_at is None or r.completed_at >= start
        ]
