"""The contact index in table `contacts`: PartitionKey `{tenantId}_{contactHash}_{userId}`, RowKey
`{userId}_{key}`.

Each row is a copy of one slice row (functions/adapters/slice_store.py), keyed by contact instead of by user,
so everything the insight routes need about one contact is one range of keys: one query (per shard),
whatever the size of the tenant. Nothing here is an aggregate: KPIs, health and who knows whom are computed
from these interactions at read time, so removing a user's rows *is* recomputing the contact without them,
and the index can be rebuilt from the slices at any time (`write` every slice again).

Why a partition per contact *and user*, not per contact: a contact that most of the tenant writes to (a big
customer's buyer, a shared supplier address) would otherwise be one partition that every instance of a
backfill writes into at once, and a partition's target is 2,000 entities/s however many accounts there are;
split by user, it is as many partitions as people who know the contact. A window is one user's, so its
changesets are the same either way (one per contact). The emulator gains too: Azurite finds an upserted row
by scanning its partition, so upserts into one 20,000-row partition were 50x slower than into a fresh one.
Rows written before this layout (partition `{tenantId}_{contactHash}`) sort inside the same key range, so
reads and purges find them; `delete_interactions` looks for them too.

Sharded: a row lives on the storage shard of the user it is about (functions/adapters/scoped_table.py), so
a contact's range has a part on each shard and reading it is one query per shard.

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
from functions.adapters.table_rows import Entity
from functions.domain.interactions import Interaction
from functions.domain.scope import Scope

TABLE = "contacts"


def contact_prefix(tenant_id: str, contact: str) -> str:
    """The key prefix of every partition of a contact's rows; also the whole partition of the rows written
    before the partition named the user."""
    return f"{tenant_id.lower()}_{contact}"


def contact_partition(tenant_id: str, contact: str, user_id: str) -> str:
    return f"{contact_prefix(tenant_id, contact)}_{user_id.lower()}"


def contact_row_key(interaction: Interaction) -> str:
    return f"{interaction.user_id.lower()}_{interaction.key}"


class TableContactStore(ScopedTableStore):
    name = TABLE
    sharded = True

    def write(self, tenant_id: str, interactions: Iterable[Interaction], run: str) -> int:
        written = 0
        for table, of_shard in self._by_shard(tenant_id, interactions).items():
            rows: dict[tuple[str, str], Entity] = {}
            for interaction in of_shard:
                key = (
                    contact_partition(tenant_id, interaction.contact, interaction.user_id),
                    contact_row_key(interaction),
                )
                rows[key] = interaction_codec.to_entity(interaction, *key, run)
            # A transaction holds one partition: hand the rows over grouped by partition (contact and user).
            written += table_batch.upsert_all(table, (rows[key] for key in sorted(rows)))
        return written

    def interactions(self, tenant_id: str, contact: str) -> list[Interaction]:
        """Every user's interactions about one contact (one key range, a part of it on each shard, read at
        once so that a read costs one round trip whatever the number of shards)."""
        tables = self._swept()
        if len(tables) == 1:
            parts = [self._partition(tables[0], tenant_id, contact)]
        else:
            with ThreadPoolExecutor(max_workers=len(tables), thread_name_prefix="contact-shards") as pool:
                parts = list(pool.map(lambda table: self._partition(table, tenant_id, contact), tables))
        # Keyed by row: after a change in the number of shards, a user's row may be on two of them (written
        # before and after); it is one interaction and must count once.
        # The same holds for a row written in both layouts. The range is of a key prefix, and a contact's
        # hash has a fixed length, so only this contact's partitions are in it; the check is a guard.
        found = {(i.user_id.lower(), i.key): i for part in parts for i in part if i.contact == contact}
        return list(found.values())

    @staticmethod
    def _partition(table: TableClient, tenant_id: str, contact: str) -> list[Interaction]:
        start, end = table_batch.prefix_range(contact_prefix(tenant_id, contact))
        with translate_storage_errors():
            rows = table.query_entities(
                "PartitionKey ge @start and PartitionKey lt @end",
                parameters={"start": start, "end": end},
                select=interaction_codec.SELECT,
                results_per_page=1000,
            )
            return [interaction_codec.from_entity(row) for row in rows]

    def delete_interactions(self, tenant_id: str, interactions: Iterable[Interaction]) -> int:
        deleted = 0
        for table, of_shard in self._by_shard(tenant_id, interactions).items():
            keys = {
                (contact_partition(tenant_id, f.contact, f.user_id), contact_row_key(f)) for f in of_shard
            }
            keys |= _legacy_keys(table, tenant_id, of_shard)
            deleted += table_batch.delete_keys(table, sorted(keys))
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


def _legacy_keys(table: TableClient, tenant_id: str, interactions: list[Interaction]) -> set[tuple[str, str]]:
    """The keys of these interactions' rows in the layout before the partition named the user, those that
    exist: one query per (contact, user), of that user's rows of the contact's old partition."""
    wanted: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
    for interaction in interactions:
        wanted[contact_prefix(tenant_id, interaction.contact), interaction.user_id.lower()].add(
            contact_row_key(interaction)
        )
    found: set[tuple[str, str]] = set()
    for (partition, user_id), row_keys in wanted.items():
        start, end = table_batch.prefix_range(f"{user_id}_")
        query = "PartitionKey eq @pk and RowKey ge @start and RowKey lt @end"
        parameters = {"pk": partition, "start": start, "end": end}
        found.update(key for key in table_batch.query_keys(table, query, parameters) if key[1] in row_keys)
    return found


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
