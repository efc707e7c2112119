"""Per-user slices in table `slices`: PartitionKey `{tenantId}_{userId}`, RowKey `Interaction.record_key`.

A row is one `Interaction` (what one mailbox shows of one message or meeting with one external contact; see
functions/domain/interactions.py) plus `run`, the ingestion run that last wrote it. One user is one
partition, so a user purge is one partition; re-ingesting a window writes the same keys (no double count).
The slice is the source of truth: the contact index (contact_store) is a copy keyed by contact.

ScopedStore: tenant scope = every partition `{tenantId}_*`; user scope = the user's partition; feature scope
= nothing (slices serve both features; no row belongs to one feature alone, so a feature purge leaves them
and a purge of the last enabled feature is a tenant purge).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from functions.adapters import table_batch
from functions.adapters.scoped_table import ScopedTableStore, ScopeFilter
from functions.adapters.table_rows import Entity
from functions.domain.interactions import Interaction
from functions.domain.scope import Scope

TABLE = "slices"
FACT_FIELDS = (
    "key",
    "kind",
    "userId",
    "contact",
    "at",
    "direction",
    "userRole",
    "contactRole",
    "conversation",
    "minutes",
)


def slice_partition(tenant_id: str, user_id: str) -> str:
    return f"{tenant_id.lower()}_{user_id.lower()}"


def fact_entity(partition: str, row_key: str, fact: Interaction, run: str) -> Entity:
    """The stored form of a fact (also used by the contact index, under its own keys)."""
    return {
        "PartitionKey": partition,
        "RowKey": row_key,
        "key": fact.key,
        "kind": fact.kind,
        "userId": fact.user_id,
        "contact": fact.contact,
        "at": fact.at,
        "direction": fact.direction,
        "userRole": fact.user_role,
        "contactRole": fact.contact_role,
        "conversation": fact.conversation,
        "minutes": float(fact.minutes),
        "run": run,
    }


def fact_from(row: Any) -> Interaction:
    """The fact of a stored row; ValueError for a row that is not one."""
    return Interaction.from_record(
        {
            "key": row.get("key"),
            "kind": row.get("kind"),
            "user_id": row.get("userId"),
            "contact": row.get("contact"),
            "at": row.get("at"),
            "direction": row.get("direction"),
            "user_role": row.get("userRole"),
            "contact_role": row.get("contactRole"),
            "conversation": row.get("conversation", ""),
            "minutes": row.get("minutes", 0.0),
        }
    )


class TableSliceStore(ScopedTableStore):
    name = TABLE

    def write(self, tenant_id: str, user_id: str, facts: Sequence[Interaction], run: str) -> int:
        """Upsert the user's facts (last copy of a key wins); returns the number of rows written."""
        partition = slice_partition(tenant_id, user_id)
        rows = {fact.record_key: fact_entity(partition, fact.record_key, fact, run) for fact in facts}
        return table_batch.upsert_all(self._table, rows.values())

    def facts(self, tenant_id: str, user_id: str) -> Iterator[Interaction]:
        """Every fact of the user's slice, streamed."""
        for row in self._rows("PartitionKey eq @pk", {"pk": slice_partition(tenant_id, user_id)}):
            yield fact_from(row)

    def facts_of_run(self, tenant_id: str, user_id: str, run: str) -> list[Interaction]:
        """The facts the run `run` wrote last (what a revoked window takes back)."""
        query = "PartitionKey eq @pk and run eq @run"
        return [
            fact_from(r) for r in self._rows(query, {"pk": slice_partition(tenant_id, user_id), "run": run})
        ]

    def delete_facts(self, tenant_id: str, user_id: str, facts: Iterable[Interaction]) -> int:
        partition = slice_partition(tenant_id, user_id)
        return table_batch.delete_keys(self._table, ((partition, f.record_key) for f in facts))

    def records(self, tenant_id: str, user_id: str) -> Iterator[dict[str, Any]]:
        """The user's rows as plain JSON-ready records (what a backup holds), streamed."""
        for row in self._rows("PartitionKey eq @pk", {"pk": slice_partition(tenant_id, user_id)}):
            record = {name: row.get(name) for name in FACT_FIELDS}
            at = record["at"]
            record["at"] = at.isoformat() if isinstance(at, datetime) else at
            yield record

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
