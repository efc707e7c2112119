"""The contact index in table `contacts`: PartitionKey `{tenantId}_{contactHash}`, RowKey `{userId}_{key}`.

Each row is a copy of one slice row (functions/adapters/slice_store.py), keyed by contact instead of by user,
so everything the insight routes need about one contact is one small partition: one query, whatever the
size of the tenant. Nothing here is an aggregate: KPIs, health and who knows whom are computed from these
interactions at read time, so removing a user's rows *is* recomputing the contact without them, and the index
can be rebuilt from the slices at any time (`write` every slice again).

Sharded: a row lives on the storage shard of the user it is about (functions/adapters/scoped_table.py), so
a contact's partition has a part on each shard and reading it is one query per shard.

ScopedStore: tenant scope = every partition `{tenantId}_*`; user scope = the rows whose `userId` is the user,
searched over the tenant's whole index on every shard (not trusted to the user's slice, which a purge may
already have deleted); feature scope = nothing (the index serves both features).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from azure.data.tables import TableClient

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
    sharded = True

    def write(self, tenant_id: str, interactions: Iterable[Interaction], run: str) -> int:
        written = 0
        for table, of_shard in self._by_shard(tenant_id, interactions).items():
            rows = {
                (interaction.contact, contact_row_key(interaction)): interaction_codec.to_entity(
                    interaction,
                    contact_partition(tenant_id, interaction.contact),
                    contact_row_key(interaction),
                    run,
                )
                for interaction in of_shard
            }
            # A transaction holds one partition: hand the rows over grouped by contact.
            written += table_batch.upsert_all(table, (rows[key] for key in sorted(rows)))
        return written

    def interactions(self, tenant_id: str, contact: str) -> list[Interaction]:
        """Every user's interactions about one contact (one partition, a part of it on each shard, read at
        once so that a read costs one round trip whatever the number of shards)."""
        tables = self._swept()
        if len(tables) == 1:
            parts = [self._partition(tables[0], tenant_id, contact)]
        else:
            with ThreadPoolExecutor(max_workers=len(tables), thread_name_prefix="contact-shards") as pool:
                parts = list(pool.map(lambda table: self._partition(table, tenant_id, contact), tables))
        # Keyed by row: after a change in the number of shards, a user's row may be on two of them (written
        # before and after); it is one interaction and must count once.
        found = {(i.user_id.lower(), i.key): i for part in parts for i in part}
        return list(found.values())

    @staticmethod
    def _partition(table: TableClient, tenant_id: str, contact: str) -> list[Interaction]:
        with translate_storage_errors():
            rows = table.query_entities(
                "PartitionKey eq @pk",
                parameters={"pk": contact_partition(tenant_id, contact)},
                select=interaction_codec.SELECT,
                results_per_page=1000,
            )
            return [interaction_codec.from_entity(row) for row in rows]

    def delete_interactions(self, tenant_id: str, interactions: Iterable[Interaction]) -> int:
        deleted = 0
        for table, of_shard in self._by_shard(tenant_id, interactions).items():
            keys = sorted({(contact_partition(tenant_id, f.contact), contact_row_key(f)) for f in of_shard})
            deleted += table_batch.delete_keys(table, keys)
        return deleted

    def _by_shard(
        self, tenant_id: str, interactions: Iterable[Interaction]
    ) -> dict[TableClient, list[Interaction]]:
        by_user: defaultdict[str, list[Interaction]] = defaultdict(list)
        for interaction in interactions:
            by_user[interaction.user_id].append(interaction)
        # One placement per user, not per row: a window's rows are all one user's.
        grouped: defaultdict[TableClient, list[Interaction]] = defaultdict(list)
        for user_id, of_user in by_user.items():
            grouped[self._table_of(tenant_id, user_id)].extend(of_user)
        return grouped

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
