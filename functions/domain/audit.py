"""Audit log entries: append-only, per tenant, newest first. IDs, types, outcomes and counts; never content.

Every consent, opt-out and legacy change, every webhook received (ID, type, outcome) and every purge request
is an entry; the purge and ingestion add their own kinds (steps with counts, runs with counts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from functions.domain.events import Provenance


@dataclass(frozen=True, slots=True)
class AuditEntry:
    tenant_id: str
    at: datetime
    kind: str  # e.g. "webhook.received", "consent.granted", "optout.user.changed", "purge.requested"
    outcome: str  # e.g. "applied", "stale", "unchanged", "duplicate", "rejected", "queued"
    actor_id: str | None = None
    event_id: str | None = None
    webhook_id: str | None = None
    event_type: str | None = None
    subject_ids: tuple[str, ...] = ()  # object IDs (pseudonymous) of users or groups the entry is about
    purge_id: str | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    detail: str | None = None  # a short reason in plain words, never data from a mailbox
    id: str = ""  # assigned by the store


@dataclass(frozen=True, slots=True)
class AuditPage:
    entries: Sequence[AuditEntry]
    continuation: str | None  # opaque; pass back to get the next (older) page


def change_entry(
    tenant_id: str,
    kind: str,
    outcome: str,
    provenance: Provenance,
    *,
    webhook_id: str | None = None,
    event_type: str | None = None,
    subject_ids: Sequence[str] = (),
    purge_id: str | None = None,
    detail: str | None = None,
) -> AuditEntry:
    """The entry for a change (or a refused change) carrying its who, when and which event."""
    return AuditEntry(
        tenant_id=tenant_id,
        at=provenance.recorded_at,
        kind=kind,
        outcome=outcome,
        actor_id=provenance.actor_id,
        event_id=provenance.event_id,
        webhook_id=webhook_id,
        event_type=event_type,
        subject_ids=tuple(sorted(subject_ids)),
        purge_id=purge_id,
        detail=detail,
    )
