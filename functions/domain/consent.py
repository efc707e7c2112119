"""The organisation-level consent of a tenant, its legacy consents, and what is enabled at a time t.

State per tenant: `none`, `granted` or `revoked`, with who/when/which event for the grant and the revocation,
plus one legacy record per feature. Transitions are pure functions returning the new state and what the
caller must do next (groups to migrate into the opt-out list, whether a purge or an ingestion is due).

Ordering: the consent's subject key is `last_event_time`; a legacy record is its own subject (its
`imported.event_time`). A change older than its subject's key is stale and changes nothing; a grant made in
the same instant as a revocation is stale too, whichever arrived first (the withdrawal wins the tie). An event
whose ID is the one last applied to the subject is a `duplicate`: the state already holds it, but the caller
finishes its follow-up work again (so a crash between writes heals on re-delivery).

A stale revocation still carries a tenant purge (`ConsentTransition.purge_id`). Delivered in the order they
were made, a withdrawal followed by a new grant purges what was collected before the withdrawal, and the
purge holds the tenant until it completes; delivered the other way round, the withdrawal is stale, and
dropping its purge would keep that data for good. So it changes no state (the newer change stands: no
version, history or grant/revocation details are rewritten), but its purge is asked for all the same: the
purge of the revocation in force when the tenant is revoked now (it covers everything collected before it,
and nothing has been since), else its own.

Legacy migration happens exactly once per (feature, group): a record remembers `migrated_group_ids`, so a
re-delivered grant, a second grant after a revocation, or a legacy record imported after the grant migrates
only groups never migrated before (an admin may have removed a migrated group since; it must stay removed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from functions.domain.events import Outcome, Provenance, is_stale, latest
from functions.domain.scope import FEATURES, Feature

ConsentState = Literal["none", "granted", "revoked"]
Basis = Literal["consent", "legacy", "none"]
LegacyStatus = Literal["active", "superseded", "expired"]
ChangeKind = Literal["granted", "revoked", "legacy-imported", "legacy-superseded", "legacy-expired"]


@dataclass(frozen=True, slots=True)
class LegacyConsent:
    feature: Feature
    granted_at: datetime
    expires_at: datetime
    opted_out_group_ids: frozenset[str]
    status: LegacyStatus
    imported: Provenance
    migrated_group_ids: frozenset[str] = frozenset()
    status_changed_at: datetime | None = None

    def status_at(self, now: datetime) -> LegacyStatus:
        """`expired` once `expires_at` has passed, even before the expiry timer records it."""
        if self.status == "active" and now >= self.expires_at:
            return "expired"
        return self.status

    def same_content(self, other: LegacyConsent) -> bool:
        return (self.granted_at, self.expires_at, self.opted_out_group_ids) == (
            other.granted_at,
            other.expires_at,
            other.opted_out_group_ids,
        )


@dataclass(frozen=True, slots=True)
class TenantConsent:
    tenant_id: str
    state: ConsentState = "none"
    version: int = 0
    granted: Provenance | None = None
    revoked: Provenance | None = None
    last_event_time: datetime | None = None
    last_event_id: str | None = None
    revoke_purge_id: str | None = None
    legacy: Mapping[Feature, LegacyConsent] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FeatureStatus:
    feature: Feature
    enabled: bool
    basis: Basis
    legacy_status: LegacyStatus | None
    legacy_expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class ConsentChange:
    """One entry of the consent's change history (never rewritten)."""

    kind: ChangeKind
    provenance: Provenance
    feature: Feature | None = None
    group_ids: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ConsentTransition:
    consent: TenantConsent
    outcome: Outcome
    changes: tuple[ConsentChange, ...] = ()
    # Legacy opted-out groups to add to the opt-out list with source `legacy-migration`.
    migrated_group_ids: frozenset[str] = frozenset()
    purge_id: str | None = None  # a revocation (even a stale one): the tenant purge that goes with it

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    @property
    def to_save(self) -> bool:
        """Applied, or a restatement that moved the subject's ordering key."""
        return self.outcome in ("applied", "unchanged")


def feature_status(consent: TenantConsent, feature: Feature, now: datetime) -> FeatureStatus:
    """Enabled when the consent is granted, or an unexpired legacy record exists and nobody revoked."""
    record = consent.legacy.get(feature)
    legacy_status = record.status_at(now) if record else None
    basis: Basis
    if consent.state == "granted":
        enabled, basis = True, "consent"
    elif consent.state != "revoked" and legacy_status == "active":
        enabled, basis = True, "legacy"
    else:
        enabled, basis = False, "none"
    return FeatureStatus(
        feature, enabled, basis, legacy_status, record.expires_at if record else None
    )  # fmt: skip


def enabled_features(consent: TenantConsent, now: datetime) -> frozenset[Feature]:
    return frozenset(f for f in FEATURES if feature_status(consent, f, now).enabled)


def legacy_excluded_groups(consent: TenantConsent, now: datetime) -> frozenset[str]:
    """Groups a legacy record still excludes: those of records that are the basis of a feature today."""
    groups: set[str] = set()
    for feature, record in consent.legacy.items():
        if feature_status(consent, feature, now).basis == "legacy":
            groups |= record.opted_out_group_ids
    return frozenset(groups)


def grant(consent: TenantConsent, provenance: Provenance) -> ConsentTransition:
    """Grant the consent; supersede live legacy records and migrate every legacy group not migrated yet.

    The out-of-order rule applies to events only (`Provenance.ordered`): an administrator acting now is
    never "older" than an event.
    """
    if provenance.ordered and provenance.event_id == consent.last_event_id:
        return ConsentTransition(consent, "duplicate")
    yields = consent.state == "revoked"
    if provenance.ordered and is_stale(consent.last_event_time, provenance.event_time, yields=yields):
        return ConsentTransition(consent, "stale")
    now = provenance.recorded_at
    legacy = dict(consent.legacy)
    changes: list[ConsentChange] = []
    migrated: set[str] = set()
    for feature, record in consent.legacy.items():
        pending = record.opted_out_group_ids - record.migrated_group_ids
        supersede = record.status_at(now) == "active"
        if not pending and not supersede:
            continue
        migrated |= pending
        legacy[feature] = replace(
            record,
            status="superseded" if supersede else record.status,
            migrated_group_ids=record.migrated_group_ids | pending,
            status_changed_at=now if supersede else record.status_changed_at,
        )
        changes.append(ConsentChange("legacy-superseded", provenance, feature, frozenset(pending)))
    if consent.state != "granted":
        changes.insert(0, ConsentChange("granted", provenance))
    updated = replace(
        consent,
        state="granted",
        version=consent.version + (1 if changes else 0),
        granted=provenance if consent.state != "granted" else consent.granted,
        last_event_time=latest(consent.last_event_time, provenance.event_time),
        last_event_id=provenance.event_id,
        legacy=legacy,
    )
    return ConsentTransition(
        updated, "applied" if changes else "unchanged", tuple(changes), frozenset(migrated)
    )  # fmt: skip


def revoke(consent: TenantConsent, provenance: Provenance, purge_id: str) -> ConsentTransition:
    """Withdraw the consent: every feature off, every user out, and one tenant purge (`purge_id`).

    Revoking an already revoked tenant changes nothing and points at the purge the first revocation started.
    A stale revocation changes nothing either, but still carries a purge (see the module docstring).
    """
    if provenance.ordered and provenance.event_id == consent.last_event_id:
        return ConsentTransition(consent, "duplicate", purge_id=consent.revoke_purge_id)
    if provenance.ordered and is_stale(consent.last_event_time, provenance.event_time):
        in_force = consent.revoke_purge_id if consent.state == "revoked" else None
        return ConsentTransition(consent, "stale", purge_id=in_force or purge_id)
    if consent.state == "revoked":
        # Nothing changes, but the subject's ordering key moves: a grant older than this must stay stale.
        restated = replace(
            consent,
            last_event_time=latest(consent.last_event_time, provenance.event_time),
            last_event_id=provenance.event_id,
        )
        return ConsentTransition(restated, "unchanged", purge_id=consent.revoke_purge_id)
    updated = replace(
        consent,
        state="revoked",
        version=consent.version + 1,
        revoked=provenance,
        last_event_time=latest(consent.last_event_time, provenance.event_time),
        last_event_id=provenance.event_id,
        revoke_purge_id=purge_id,
    )
    return ConsentTransition(updated, "applied", (ConsentChange("revoked", provenance),), purge_id=purge_id)


def import_legacy(
    consent: TenantConsent,
    feature: Feature,
    *,
    granted_at: datetime,
    expires_at: datetime,
    opted_out_group_ids: frozenset[str],
    provenance: Provenance,
) -> ConsentTransition:
    """Record a legacy consent form. Imported after a grant, it is superseded at once and migrated."""
    previous = consent.legacy.get(feature)
    if previous is not None and provenance.ordered:
        if provenance.event_id == previous.imported.event_id:
            return ConsentTransition(consent, "duplicate")
        if is_stale(previous.imported.event_time, provenance.event_time):
            return ConsentTransition(consent, "stale")
    already_migrated = previous.migrated_group_ids if previous else frozenset()
    record = LegacyConsent(
        feature=feature,
        granted_at=granted_at,
        expires_at=expires_at,
        opted_out_group_ids=opted_out_group_ids,
        status="active",
        imported=provenance,
        migrated_group_ids=already_migrated,
        status_changed_at=provenance.recorded_at,
    )
    if previous is not None and previous.same_content(record):
        # The same record restated: keep it, but let its newer statement be the subject's ordering key.
        if provenance.event_time <= previous.imported.event_time:
            return ConsentTransition(consent, "unchanged")
        restated = replace(previous, imported=provenance)
        return ConsentTransition(replace(consent, legacy={**consent.legacy, feature: restated}), "unchanged")
    changes = [ConsentChange("legacy-imported", provenance, feature, opted_out_group_ids)]
    migrated: frozenset[str] = frozenset()
    if consent.state == "granted":
        migrated = opted_out_group_ids - already_migrated
        record = replace(record, status="superseded", migrated_group_ids=already_migrated | migrated)
        changes.append(ConsentChange("legacy-superseded", provenance, feature, migrated))
    updated = replace(consent, version=consent.version + 1, legacy={**consent.legacy, feature: record})
    return ConsentTransition(updated, "applied", tuple(changes), migrated)
