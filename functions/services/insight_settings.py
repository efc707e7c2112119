"""A tenant's insight settings: the health weights per kind of interaction (0.5-1.5), the grade bounds and
the communication cadence the score is calibrated to (functions/domain/health_config.py). Read by every
insight request; replaced as a whole by an administrator (`PUT .../insights/settings`, role
`Consent.Manage`), validated, and audited. Scores are computed at read time, so a change recomputes nothing
stored and applies to the next answer.
"""

from __future__ import annotations

from datetime import datetime

from functions.domain.audit import AuditEntry
from functions.domain.health_config import HealthConfig
from functions.services.ports.consent import AuditLog
from functions.services.ports.ingestion import SettingsStore

APPLIES = "scores are computed at read time: nothing stored was recomputed; the next answer uses these"


class InsightSettingsService:
    def __init__(self, settings: SettingsStore, audit: AuditLog) -> None:
        self._settings, self._audit = settings, audit

    def current(self, tenant_id: str) -> HealthConfig:
        return self._settings.insight_settings(tenant_id.lower()) or HealthConfig()

    def replace(self, tenant_id: str, body: object, actor_id: str | None, now: datetime) -> HealthConfig:
        """Validate the whole body (`ValidationFailed` naming each bad field: nothing saved) and save it."""
        config = HealthConfig.from_json(body)
        tenant_id = tenant_id.lower()
        self._settings.save_insight_settings(tenant_id, config, now, actor_id)
        self._audit.append(
            AuditEntry(
                tenant_id=tenant_id, at=now, kind="insights.settings.changed", outcome="applied",
                actor_id=actor_id, detail=APPLIES,
            )
        )  # fmt: skip
        return config
