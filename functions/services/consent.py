"""Consent use cases: read the consent, grant, revoke, import a legacy record.

Order of writes, chosen so that a crash at any point errs on the side of privacy and heals on re-delivery:
exclusions first (migrated and granted groups go into the opt-out list before the grant is saved), then the
consent itself (one ETag-guarded transaction), then the purge record (created if absent under an ID derived
from the event), then the queue message, then the audit entry. A re-delivered event that finds its own
change already applied (`duplicate`) redoes the follow-ups; a purge record whose message was lost is
re-queued by the maintenance timer, which re-queues every unfinished purge.

A stale event (functions/domain/events.py) changes no consent state, but the end result must not depend on
the order of delivery: a stale revocation still requests its tenant purge (the domain says which), and a
stale grant's opted-out groups still go to the group list, which judges them by its own order
(functions/domain/optouts.py), with the group purge an in-order grant would have asked for.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from functions.domain import consent as rules
from functions.domain.audit import change_entry
from functions.domain.errors import ConcurrencyConflict
from functions.domain.events import LegacyConsentImported, Outcome, Provenance
from functions.domain.optouts import GroupOptOutPolicy, GroupOptOuts, GroupSource, add_groups
from functions.domain.purge import GroupScope, PurgeReason, PurgeRecord, PurgeTarget, new_purge
from functions.domain.scope import Feature, Scope
from functions.services.ports.consent import AuditLog, ConsentStore, OptOutStore
from functions.services.ports.purge import PurgeLedger
from functions.services.ports.queues import WorkQueues

T = TypeVar("T")
MAX_ATTEMPTS = 40


def retry_conflicts(attempt: Callable[[], T], attempts: int = MAX_ATTEMPTS) -> T:
    """Run a read-decide-write `attempt` again while it loses ETag races; the last loss propagates (503)."""
    for _ in range(attempts - 1):
        try:
            return attempt()
        except ConcurrencyConflict:
            continue
    return attempt()


def api_provenance(actor_id: str | None, now: datetime) -> Provenance:
    """A change made through the REST API: the caller's object ID, a fresh change ID, the request time."""
    return Provenance(actor_id, f"api-{uuid.uuid4()}", now, "api", now)


@dataclass(frozen=True, slots=True)
class ChangeResult:
    outcome: Outcome
    purge_id: str | None = None
    version: int | None = None


class PurgeRequests:
    """Creates a purge record (if absent), queues it, and audits the request."""

    def __init__(self, purges: PurgeLedger, queues: WorkQueues, audit: AuditLog) -> None:
        self._purges, self._queues, self._audit = purges, queues, audit

    def existing(self, tenant_id: str, purge_id: str) -> PurgeRecord | None:
        return self._purges.get(tenant_id, purge_id)

    def unfinished_user_purge(self, tenant_id: str, user_id: str) -> PurgeRecord | None:
        """The oldest unfinished purge of this one user (their opt-out's, or a group membership's), if any:
        while it runs the user is held, so nothing new of theirs exists for another purge to delete."""
        uid = user_id.lower()
        mine = [
            r
            for r in self._purges.unfinished_of(tenant_id)
            if isinstance(r.scope, Scope) and r.scope.kind == "user" and str(r.scope.user_id).lower() == uid
        ]
        return min(mine, key=lambda r: (r.requested_at, r.id)) if mine else None

    def request(
        self,
        scope: PurgeTarget,
        reason: PurgeReason,
        provenance: Provenance,
        webhook_id: str | None = None,
        *,
        deadlines_from: datetime | None = None,
    ) -> PurgeRecord:
        purge = new_purge(scope, reason, provenance, deadlines_from=deadlines_from)
        record, created = self._purges.create(purge)
        if created:
            self._queues.enqueue_purge(record.tenant_id, record.id)
            subjects = (
                sorted(scope.group_ids) if isinstance(scope, GroupScope) else [scope.subject]
            )  # fmt: skip
            self._audit.append(
                change_entry(
                    record.tenant_id, "purge.requested", "queued", provenance,
                    webhook_id=webhook_id, subject_ids=subjects, purge_id=record.id, detail=reason,
                )
            )  # fmt: skip
        return record


class ConsentService:
    def __init__(
        self,
        consents: ConsentStore,
        optouts: OptOutStore,
        purge_requests: PurgeRequests,
        queues: WorkQueues,
        audit: AuditLog,
        *,
        group_policy: GroupOptOutPolicy,
        legacy_expiry: Mapping[Feature, datetime],
    ) -> None:
        self._consents, self._optouts = consents, optouts
        self._purges, self._queues, self._audit = purge_requests, queues, audit
        self._group_policy = group_policy
        self._legacy_expiry = legacy_expiry

    def overview(self, tenant_id: str) -> tuple[rules.TenantConsent, GroupOptOuts]:
        """The consent and the opted-out groups, for `GET /consent`."""
        return self._consents.load(tenant_id).consent, self._optouts.load_groups(tenant_id).groups

    def grant(
        self,
        tenant_id: str,
        group_ids: frozenset[str],
        provenance: Provenance,
        *,
        webhook_id: str | None = None,
    ) -> ChangeResult:
        def attempt() -> tuple[rules.TenantConsent, rules.ConsentTransition, bool]:
            stored = self._consents.load(tenant_id)
            transition = rules.grant(stored.consent, provenance)
            listed = False
            if transition.outcome in ("applied", "unchanged", "stale"):
                # Exclusions land before the grant that makes them matter (a crash here excludes early). The
                # group list is a subject of its own: a grant stale for the consent still opted these groups
                # out when it was made, and the list's own order decides whether that still counts.
                listed = self._add_groups(tenant_id, group_ids, "consent-grant", provenance)
            if transition.outcome in ("applied", "unchanged"):
                self._add_groups(tenant_id, transition.migrated_group_ids, "legacy-migration", provenance)
                self._consents.save(transition.consent, stored.etag, transition.changes)
            return stored.consent, transition, listed

        before, transition, listed = retry_conflicts(attempt)
        # An earlier attempt may have added the groups before its consent save lost a race: this one then
        # finds them listed already, and the resolution they need must still be asked for.
        listed = listed or bool(group_ids and group_ids <= self._optouts.load_groups(tenant_id).groups.ids)
        outcome = transition.outcome
        detail = None
        if outcome == "stale" and group_ids:
            detail = "older than the consent's last change; its groups go by the group list's own order"
        audit = self._audit_change(
            tenant_id, "consent.granted", outcome, provenance, webhook_id, detail=detail
        )
        if (group_ids and (outcome != "stale" or listed)) or transition.migrated_group_ids:
            # Their members are resolved at once; until then the tenant fails closed.
            self._queues.request_membership(tenant_id, provenance.recorded_at)
        if transition.migrated_group_ids:
            audit("optout.groups.migrated", sorted(transition.migrated_group_ids))
        if (outcome == "applied" and before.state != "granted") or outcome == "duplicate":
            # The backfill starts now, not at the next timer.
            self._queues.request_ingestion(tenant_id, provenance.recorded_at)
        purge_id = None
        newly_excluded = group_ids - rules.legacy_excluded_groups(before, provenance.recorded_at)
        # Data exists only if something was enabled; a group opted out at that moment may hold some.
        if (
            self._group_policy == "purge"
            and newly_excluded
            and outcome != "duplicate"
            and rules.enabled_features(before, provenance.recorded_at)
        ):
            scope = GroupScope(tenant_id, frozenset(newly_excluded))
            purge_id = self._purges.request(scope, "group-opt-out", provenance, webhook_id).id
        return ChangeResult(outcome, purge_id, transition.consent.version)

    def revoke(
        self,
        tenant_id: str,
        provenance: Provenance,
        *,
        webhook_id: str | None = None,
    ) -> ChangeResult:
        scope = Scope("tenant", tenant_id)
        purge_id = new_purge(scope, "consent-revoked", provenance).id

        def attempt() -> rules.ConsentTransition:
            stored = self._consents.load(tenant_id)
            transition = rules.revoke(stored.consent, provenance, purge_id)
            if transition.to_save and transition.consent != stored.consent:
                self._consents.save(transition.consent, stored.etag, transition.changes)
            return transition

        transition = retry_conflicts(attempt)
        consent, stale = transition.consent, transition.outcome == "stale"
        detail = "older than the consent's last change: no state changed; its tenant purge is requested"
        self._audit_change(
            tenant_id, "consent.revoked", transition.outcome, provenance, webhook_id,
            purge_id=transition.purge_id if stale else None, detail=detail if stale else None,
        )  # fmt: skip
        # The purge of the revocation in force (this one, or the earlier one this repeats or predates), under
        # that revocation's event; for a stale revocation of a tenant granted again since, its own.
        in_force = transition.purge_id == consent.revoke_purge_id and consent.revoked is not None
        origin = consent.revoked if in_force and consent.revoked else provenance
        record = self._purges.request(scope, "consent-revoked", origin, webhook_id)
        return ChangeResult(transition.outcome, record.id, consent.version)

    def import_legacy(
        self, legacy: LegacyConsentImported, provenance: Provenance, *, webhook_id: str | None = None
    ) -> ChangeResult:
        tenant_id = legacy.tenant_id
        expiry = legacy.expires_at or self._legacy_expiry[legacy.feature]

        def attempt() -> rules.ConsentTransition:
            stored = self._consents.load(tenant_id)
            transition = rules.import_legacy(
                stored.consent, legacy.feature, granted_at=legacy.granted_at, expires_at=expiry,
                opted_out_group_ids=legacy.opted_out_group_ids, provenance=provenance,
            )  # fmt: skip
            if transition.to_save and transition.consent != stored.consent:
                self._add_groups(tenant_id, transition.migrated_group_ids, "legacy-migration", provenance)
                self._consents.save(transition.consent, stored.etag, transition.changes)
            return transition

        transition = retry_conflicts(attempt)
        audit = self._audit_change(tenant_id, "legacy.imported", transition.outcome, provenance, webhook_id)
        if transition.migrated_group_ids:
            audit("optout.groups.migrated", sorted(transition.migrated_group_ids))
        if transition.outcome != "stale" and (legacy.opted_out_group_ids or transition.migrated_group_ids):
            # A legacy record in force excludes its groups (or they were just migrated): resolve them now.
            self._queues.request_membership(tenant_id, provenance.recorded_at)
        return ChangeResult(transition.outcome, None, transition.consent.version)

    def _add_groups(
        self, tenant_id: str, group_ids: frozenset[str], source: GroupSource, provenance: Provenance
    ) -> bool:
        """Union the groups into the list, as its order allows; whether the list gained any."""
        if not group_ids:
            return False

        def attempt() -> bool:
            stored = self._optouts.load_groups(tenant_id)
            transition = add_groups(stored.groups, group_ids, source, provenance)
            if transition.groups != stored.groups:
                self._optouts.save_groups(transition.groups, stored.etag)
            return bool(transition.added)

        return retry_conflicts(attempt)

    def _audit_change(
        self,
        tenant_id: str,
        kind: str,
        outcome: Outcome,
        provenance: Provenance,
        webhook_id: str | None,
        *,
        purge_id: str | None = None,
        detail: str | None = None,
    ) -> Callable[[str, list[str]], None]:
        """Audit the change's outcome now; the returned function audits what followed from it."""
        self._audit.append(
            change_entry(
                tenant_id, kind, outcome, provenance, webhook_id=webhook_id, purge_id=purge_id, detail=detail
            )
        )

        def follow_up(follow_kind: str, subjects: list[str]) -> None:
            self._audit.append(
                change_entry(
                    tenant_id, follow_kind, "applied", provenance, webhook_id=webhook_id, subject_ids=subjects
                )
            )

        return follow_up
