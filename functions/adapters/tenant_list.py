"""Which tenants the daily jobs look at: every tenant with a consent row or a legacy record in `consents`.

A read-only query over the consent store's table (its layout is in CONTRIBUTING.md); whether a feature is
enabled is then decided per tenant from `ConsentStore.load`, by the consent rules.
"""

from __future__ import annotations

from azure.data.tables import TableClient

from functions.adapters import table_batch
from functions.adapters.consent_store import TABLE
from functions.adapters.storage import StorageClients, translate_storage_errors


class TableTenantList:
    def __init__(self, storage: StorageClients) -> None:
        self._storage = storage

    @property
    def _table(self) -> TableClient:
        return self._storage.table(TABLE)

    def tenant_ids(self) -> list[str]:
        start, end = table_batch.prefix_range("legacy-")
        queries = (
            ("RowKey eq @current", {"current": "current"}),
            ("RowKey ge @start and RowKey lt @end", {"start": start, "end": end}),
        )
        found: set[str] = set()
        with translate_storage_errors():
            for query, parameters in queries:
                rows = self._table.query_entities(query, parameters=parameters, select=["PartitionKey"])
                found.update(str(row["PartitionKey"]).lower() for row in rows)
        return sorted(found)
