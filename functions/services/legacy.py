"""Legacy consent use cases: the maintenance timer's expiry step, and the operator's bulk import.

Expiry (`LegacyService.expire_due`, the `legacy-expiry` maintenance step). For each tenant the store finds
with an `active` legacy record past its expiry: the purges first (each under an ID derived from the record,
so a re-run after a crash finds them instead of starting more; their deadlines counted from the expiry
instant, so a timer that ran late shows as a purge born late), then the `expired` status (one ETag-guarded
save with its change history), then the audit entries. The order errs on the side of privacy: a crash
between the two leaves the record due, and the next run requests the same purges and saves the status.
The feature itself stopped at the expiry instant whatever the timer does: `feature_status` and therefore
ingestion, scheduling and the insight routes read the expiry, not the stored status.

Import (`LegacyService.import_rows`): rows validated by functions/domain/legacy.py go through the same
`ConsentService.import_legacy` as the admin-center webhook (the same migration rules, opt-out writes and
audit). Each row's event ID names its content, so importing the same file again finds every record already
imported and writes nothing, not even an audit entry.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from functions.domain.audit import change_entry
from functions.domain.errors import AppError
from functions.domain.events import LegacyConsentImported, Outcome, Provenance
from functions.domain.legacy import LegacyExpiry, LegacyRow, expire_legacy
from functions.domain.scope import Feature, Scope
from functions.services.consent import ConsentService, PurgeRequests, retry_conflicts
from functions.services.ports.consent import AuditLog, ConsentStore

logger = logging.getLogger(__name__)


class LegacyExpiryFailed(AppError):
    """Recording the expiry failed for some tenants (the others were done); the next run retries them."""


@dataclass(frozen=True, slots=True)
class TenantExpiry:
    tenant_id: str
    expired: tuple[Feature, ...]
    purge_ids: tuple[str, ...]


@dataclass
class ImportSummary:
    rows: int = 0
    tenants: int = 0
    imported: int = 0  # new or changed records written
    already_imported: int = 0  # the same content was imported before: nothing written
    unchanged: int = 0  # the same record came from elsewhere (e.g. the webhook): only its provenance moved
    stale: int = 0  # a newer statement of the record is stored: ignored
    superseded_on_arrival: int = 0  # the tenant had granted already: superseded at once, groups migrated
    outcomes: dict[int, str] = field(default_factory=dict)  # line -> outcome

    def counts(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "tenants": self.tenants,
            "imported": self.imported,
            "alreadyImported": self.already_imported,
            "unchanged": self.unchanged,
            "stale": self.stale,
            "supersededOnArrival": self.superseded_on_arrival,
        }


class LegacyService:
    def __init__(
        self,
        consents: ConsentStore,
        consent: ConsentService,
        purge_requests: PurgeRequests,
        audit: AuditLog,
        *,
        legacy_expiry: Mapping[Feature, datetime],
    ) -> None:
        self._consents, self._consent = consents, consent
        self._purges, self._audit = purge_requests, audit
        self.default_expiry = legacy_expiry  # per feature, for rows without their own expiresAt

    # --- expiry ------------------------------------------------------------------------------------------

    def expire_due(self, now: datetime) -> dict[str, int]:
        """The maintenance step: every due record of every tenant; one tenant's failure skips only it."""
        tenants = self._consents.tenants_with_due_legacy(now)
        expired = purges = failed = 0
        for tenant_id in tenants:
            try:
                result = self.expire_tenant(tenant_id, now)
            except Exception:  # one tenant's storage trouble must not keep the others' features on
                logger.exception("legacy expiry of tenant %s failed; the next run retries it", tenant_id)
                failed += 1
                continue
            expired += len(result.expired)
            purges += len(result.purge_ids)
        if failed:
            raise LegacyExpiryFailed(f"legacy expiry failed for {failed} of {len(tenants)} tenant(s)")
        return {"tenants": len(tenants), "expired": expired, "purgesRequested": purges}

    def expire_tenant(self, tenant_id: str, now: datetime) -> TenantExpiry:
        def attempt() -> tuple[LegacyExpiry, dict[Feature, str], str | None]:
            stored = self._consents.load(tenant_id)
            expiry = expire_legacy(stored.consent, now)
            if not expiry.changed:
                return expiry, {}, None
            # Purges before the status: a crash in between leaves the record due and heals on the next run.
            # Deadlines from the expiry, not from this run: a late timer yields a purge born late, flagged.
            feature_purges = {
                feature: self._purges.request(
                    Scope("feature", tenant_id, feature=feature), "legacy-expired",
                    expiry.provenance[feature], deadlines_from=expiry.deadlines_from[feature],
                ).id
                for feature in expiry.purge_features
            }  # fmt: skip
            tenant_purge = None
            if expiry.tenant_purge is not None:
                tenant_purge = self._purges.request(
                    Scope("tenant", tenant_id), "legacy-expired", expiry.tenant_purge,
                    deadlines_from=expiry.tenant_deadlines_from,
                ).id  # fmt: skip
            self._consents.save(expiry.consent, stored.etag, expiry.changes)
            return expiry, feature_purges, tenant_purge

        expiry, feature_purges, tenant_purge = retry_conflicts(attempt)
        for feature in expiry.expired:
            record = expiry.consent.legacy[feature]
            purge_id = feature_purges.get(feature)
            effect = (
                f"{feature} disabled; ingestion for it stops; its data is purged"
                if purge_id
                else f"{feature} stays enabled by the consent"
            )
            self._audit.append(
                change_entry(
                    tenant_id, "legacy.expired", "applied", expiry.provenance[feature], purge_id=purge_id,
                    detail=f"legacy consent expired at {record.expires_at.isoformat()}: {effect}",
                )
            )  # fmt: skip
        if tenant_purge is not None and expiry.tenant_purge is not None:
            self._audit.append(
                change_entry(
                    tenant_id, "tenant.disabled", "applied", expiry.tenant_purge, purge_id=tenant_purge,
                    detail="no feature is enabled any more: ingestion stops and the tenant's data is purged",
                )
            )  # fmt: skip
        purge_ids = (*feature_purges.values(), *([tenant_purge] if tenant_purge else []))
        if expiry.expired:
            logger.info("legacy expiry of tenant %s: %s expired", tenant_id, ", ".join(expiry.expired))
        return TenantExpiry(tenant_id, expiry.expired, tuple(purge_ids))

    # --- import ------------------------------------------------------------------------------------------

    def import_rows(self, rows: Sequence[LegacyRow], now: datetime) -> ImportSummary:
        """Import validated rows (`validate_rows`); each row is idempotent: a re-run finishes a broken run."""
        summary = ImportSummary(rows=len(rows), tenants=len({r.tenant_id for r in rows}))
        for row in rows:
            outcome, superseded = self._import_row(row, now)
            summary.outcomes[row.line] = outcome
            if outcome == "duplicate":
                summary.already_imported += 1
            elif outcome == "applied":
                summary.imported += 1
                summary.superseded_on_arrival += int(superseded)
            elif outcome == "unchanged":
                summary.unchanged += 1
            else:
                summary.stale += 1
        return summary

    def _import_row(self, row: LegacyRow, now: datetime) -> tuple[Outcome, bool]:
        before = self._consents.load(row.tenant_id).consent
        previous = before.legacy.get(row.feature)
        if previous is not None and previous.imported.event_id == row.import_id:
            return "duplicate", False  # read-only: a re-run adds nothing, not even an audit entry
        provenance = Provenance(None, row.import_id, now, "import", now)
        event = LegacyConsentImported(
            row.tenant_id, row.feature, row.granted_at, row.expires_at, row.opted_out_group_ids
        )
        result = self._consent.import_legacy(event, provenance)
        return result.outcome, before.state == "granted"
