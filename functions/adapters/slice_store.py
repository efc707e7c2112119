"""Per-user slices in table `slices`: PartitionKey `{tenantId}_{userId}`, RowKey `Interaction.record_key`.

A row is one `Interaction` (what one mailbox shows of one message or meeting with one external contact; see
functions/domain/interactions.py) in its stored form (functions/adapters/interaction_codec.py) plus `run`, the
ingestion run that last wrote it. One user is one
partition, so a user purge is one partition; re-ingesting a window writes the same keys (no double count).
The slice is the source of truth: the contact index (contact_store) is a copy keyed by contact.

Sharded: a user's partition lives on the user's storage shard (functions/adapters/scoped_table.py).

ScopedStore: tenant scope = every partition `{tenantId}_*`; user scope = the user's partition, on every
shard; feature scope = nothing (slices serve both features; no row belongs to one feature alone, so a feature
purge leaves them and a purge of the last enabled feature is a tenant purge).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from functions.adapters import interaction_codec, table_batch
from functions.adapters.scoped_table import ScopedTableStore, ScopeFilter
from functions.domain.interactions import Interaction
from functions.domain.scope import Scope

TABLE = "slices"


def slice_partition(tenant_id: str, user_id: str) -> str:
    return f"{tenant_id.lower()}_{user_id.lower()}"


class TableSliceStore(ScopedTableStore):
    name = TABLE
    sharded = True

    def write(self, tenant_id: str, user_id: str, interactions: Sequence[Interaction], run: str) -> int:
        """Upsert the user's interactions (last copy of a key wins); returns the number of rows written."""
        partition = slice_partition(tenant_id, user_id)
        rows = {
            i.record_key: interaction_codec.to_entity(i, partition, i.record_key, run) for i in interactions
        }
        return table_batch.upsert_all(self._table_of(tenant_id, user_id), rows.values())

    def interactions(self, tenant_id: str, user_id: str) -> Iterator[Interaction]:
        """Every interaction of the user's slice, streamed."""
        table = self._table_of(tenant_id, user_id)
        for row in self._rows("PartitionKey eq @pk", {"pk": slice_partition(tenant_id, user_id)}, table):
            yield interaction_codec.from_entity(row)

    def interactions_of_run(self, tenant_id: str, user_id: str, run: str) -> list[Interaction]:
        """The interactions the run `run` wrote last (what a revoked window takes back)."""
        query = "PartitionKey eq @pk and run eq @run"
        parameters = {"pk": slice_partition(tenant_id, user_id), "run": run}
        rows = self._rows(query, parameters, self._table_of(tenant_id, user_id))
        return [interaction_codec.from_entity(row) for row in rows]

    def meetings_after(self, tenant_id: str, user_id: str, after: datetime) -> list[Interaction]:
        query = "PartitionKey eq @pk and kind eq 'meeting' and at gt @after"
        parameters = {"pk": slice_partition(tenant_id, user_id), "after": after}
        rows = self._rows(query, parameters, self._table_of(tenant_id, user_id))
        return [interaction_codec.from_entity(row) for row in rows]

    def delete_interactions(self, tenant_id: str, user_id: str, interactions: Iterable[Interaction]) -> int:
        partition = slice_partition(tenant_id, user_id)
        keys = ((partition, i.record_key) for i in interactions)
        return table_batch.delete_keys(self._table_of(tenant_id, user_id), keys)

    # --- ScopedStore ----------------------------------------------------------------------------------------

    def scope_filter(self, scope: Scope) -> ScopeFilter | None:
        return _scope_query(scope)


def _scope_query(scope: Scope) -> tuple[str, dict[str, Any]] | None:
    if scope.kind == "user":
        return "PartitionKey eq @pk", {"pk": slice_partition(scope.tenant_id, str(scope.user_id))}
    if scope.kind == "tenant":
        start, end = table_batch.prefix_range(f"{scope.tenant_id.lower()}_")
        return "PartitionKey ge @start and PartitionKey lt @end", {"start": start, "end": end}
    return None
