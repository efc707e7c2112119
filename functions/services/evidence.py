"""The auditor's evidence export of a tenant (functions/domain/evidence.py), read from the stores at once and
recorded in the audit log: who exported it, when, in which form and what it held."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Literal

from functions.domain.audit import AuditEntry
from functions.domain.evidence import Evidence, gather_evidence
from functions.services.ports.consent import AuditLog, ConsentStore, OptOutStore
from functions.services.ports.purge import PurgeLedger

EvidenceFormat = Literal["json", "zip"]
FORMATS: tuple[EvidenceFormat, ...] = ("json", "zip")


class EvidenceService:
    def __init__(
        self, consents: ConsentStore, optouts: OptOutStore, purges: PurgeLedger, audit: AuditLog
    ) -> None:
        self._consents, self._optouts, self._purges, self._audit = consents, optouts, purges, audit
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="evidence-read")

    def export(self, tenant_id: str, actor_id: str | None, form: EvidenceFormat, now: datetime) -> Evidence:
        t = tenant_id.lower()
        consent = self._pool.submit(self._consents.load, t)
        history = self._pool.submit(self._consents.history, t)
        optouts = self._pool.submit(self._optouts.snapshot, t)
        purges = self._pool.submit(self._purges.list, t)
        snapshot = optouts.result()
        evidence = gather_evidence(
            t, consent=consent.result().consent, history=history.result(), groups=snapshot.groups,
            users=snapshot.users, purges=purges.result(), now=now,
        )  # fmt: skip
        counts = {
            "consentChanges": len(evidence.history),
            "purges": len(evidence.purges),
            "deadlinesMissed": evidence.deadlines_missed,
            "deadlinesPending": evidence.deadlines_pending,
        }
        self._audit.append(
            AuditEntry(
                t, now, "evidence.exported", "applied", actor_id=actor_id, counts=counts,
                detail=f"evidence export ({form})",
            )
        )  # fmt: skip
        return evidence
