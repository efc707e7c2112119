"""The evidence an auditor asks for, of one tenant: its consent and the history of it, who is opted out, and
every purge with its deadlines, steps, verification counts and whether each deadline was met.

Pure: the records are given, the export is a value. What is in it is object IDs, times and counts only, the
same as the audit log: nothing of a mailbox, no contact, no name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from functions.domain.consent import ConsentChange, TenantConsent
from functions.domain.optouts import GroupOptOuts, UserOptOut
from functions.domain.purge import DeadlineOutcome, PurgeRecord, deadline_outcomes


@dataclass(frozen=True, slots=True)
class PurgeEvidence:
    record: PurgeRecord
    live: DeadlineOutcome
    backups: DeadlineOutcome


@dataclass(frozen=True, slots=True)
class Evidence:
    tenant_id: str
    generated_at: datetime
    consent: TenantConsent
    history: tuple[ConsentChange, ...]  # oldest first
    groups: GroupOptOuts
    users: tuple[UserOptOut, ...]  # opted out now
    purges: tuple[PurgeEvidence, ...]  # newest request first

    @property
    def deadlines_missed(self) -> int:
        """Deadlines passed without the deletion (`missed`) or met after they passed (`met-late`)."""
        return sum(o in ("missed", "met-late") for p in self.purges for o in (p.live, p.backups))

    @property
    def deadlines_pending(self) -> int:
        return sum(o == "pending" for p in self.purges for o in (p.live, p.backups))


def gather_evidence(
    tenant_id: str,
    *,
    consent: TenantConsent,
    history: Iterable[ConsentChange],
    groups: GroupOptOuts,
    users: Iterable[UserOptOut],
    purges: Iterable[PurgeRecord],
    now: datetime,
) -> Evidence:
    ordered = sorted(history, key=lambda c: (c.provenance.recorded_at, c.provenance.event_id))
    return Evidence(
        tenant_id=tenant_id,
        generated_at=now,
        consent=consent,
        history=tuple(ordered),
        groups=groups,
        users=tuple(sorted((u for u in users if u.opted_out), key=lambda u: u.user_id)),
        purges=tuple(
            PurgeEvidence(record, *deadline_outcomes(record, now))
            for record in sorted(purges, key=lambda r: (r.requested_at, r.id), reverse=True)
        ),
    )
