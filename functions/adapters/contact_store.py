"""The contact index in table `contacts`: PartitionKey `{tenantId}_{contactHash}`, RowKey `{userId}_{key}`.

Each row is a copy of one slice row (functions/adapters/slice_store.py), keyed by contact instead of by user,
so everything the insight routes need about one contact is one small partition: one query, whatever the
size of the tenant. Nothing here is an aggregate: KPIs, health and who knows whom are computed from these
interactions at read time, so removing a user's rows *is* recomputing the contact without them, and the index
can be rebuilt from the slices at any time (`write` every slice again).

ScopedStore: tenant scope = every partition `{tenantId}_*`; user scope = the rows whose `userId` is the user,
searched over the tenant's whole index (not trusted to the user's slice, which a purge may already have
deleted); feature scope = nothing (the index serves both features).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from functions.adapters import interaction_codec, table_batch
from functions.adapters.scoped_table import ScopedTableStore, ScopeFilter
from functions.adapters.storage import translate_storage_errors
from functions.domain.interactions import Interaction
from functions.domain.scope import Scope

TABLE = "contacts"


def contact_partition(tenant_id: str, contact: str) -> str:
    return f"{tenant_id.lower()}_{contact}"


def contact_row_key(interaction: Interaction) -> str:
    return f"{interaction.user_id.lower()}_{interaction.key}"


class TableContactStore(ScopedTableStore):
    name = TABLE

    def write(self, tenant_id: str, interactions: Iterable[Interaction], run: str) -> int:
        rows = {
            (interaction.contact, contact_row_key(interaction)): interaction_codec.to_entity(
                interaction,
                contact_partition(tenant_id, interaction.contact),
                contact_row_key(interaction),
                run,
            )
            for interaction in interactions
        }
        # A transaction holds one partition: hand the rows over grouped by contact.
        return table_batch.upsert_all(self._table, (rows[key] for key in sorted(rows)))

    def interactions(self, tenant_id: str, contact: str) -> list[Interaction]:
        """Every user's interactions about one contact (one partition)."""
        with translate_storage_errors():
            rows = self._table.query_entities(
                "PartitionKey eq @pk",
                parameters={"pk": contact_partition(tenant_id, contact)},
                select=interaction_codec.SELECT,
                results_per_page=1000,
            )
            return [interaction_codec.from_entity(row) for row in rows]

    def delete_interactions(self, tenant_id: str, interactions: Iterable[Interaction]) -> int:
        keys = sorted({(contact_partition(tenant_id, f.contact), contact_row_key(f)) for f in interactions})
        return table_batch.delete_keys(self._table, keys)

    # --- ScopedStore ----------------------------------------------------------------------------------------

    def scope_filter(self, scope: Scope) -> ScopeFilter | None:
        return _scope_query(scope)


def _scope_query(scope: Scope) -> tuple[str, dict[str, Any]] | None:
    if scope.kind == "feature":
        return None
    start, end = table_batch.prefix_range(f"{scope.tenant_id.lower()}_")
    query = "PartitionKey ge @start and PartitionKey lt @end"
    parameters: dict[str, Any] = {"start": start, "end": end}
    if scope.kind == "user":
        query += " and userId eq @user"
        parameters["user"] = str(scope.user_id).lower()
    return query, parameters
