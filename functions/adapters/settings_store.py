"""Per-tenant insight settings in table `settings` (PartitionKey tenantId, RowKey `insights`): the health
weights, grade bounds and communication cadence an administrator chose (functions/domain/health_config.py),
with who saved them and when. Configuration, not anyone's data: kept on purpose by a purge."""

from __future__ import annotations

from datetime import datetime

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from functions.adapters.storage import StorageClients, translate_storage_errors
from functions.adapters.table_rows import Entity, get_json, iso, put_json
from functions.domain.errors import ValidationFailed
from functions.domain.health_config import HealthConfig

TABLE = "settings"
_INSIGHTS = "insights"


class TableSettingsStore:
    def __init__(self, storage: StorageClients) -> None:
        self._storage = storage

    @property
    def _table(self) -> TableClient:
        return self._storage.table(TABLE)

    def insight_settings(self, tenant_id: str) -> HealthConfig | None:
        with translate_storage_errors():
            try:
                row = self._table.get_entity(tenant_id.lower(), _INSIGHTS)
            except ResourceNotFoundError:
                return None
        try:
            return HealthConfig.from_json(get_json(row, "config", {}))
        except ValidationFailed as error:
            raise ValueError(f"stored insight settings of {tenant_id!r} are not valid: {error}") from None

    def save_insight_settings(
        self, tenant_id: str, config: HealthConfig, at: datetime, actor_id: str | None
    ) -> None:
        entity: Entity = {
            "PartitionKey": tenant_id.lower(),
            "RowKey": _INSIGHTS,
            "savedAt": iso(at),
            "savedBy": actor_id or "",
        }
        put_json(entity, "config", config.to_json())
        with translate_storage_errors():
            self._table.upsert_entity(entity, mode=UpdateMode.REPLACE)
