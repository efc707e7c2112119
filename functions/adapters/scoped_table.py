"""A table store whose traces of a scope one OData filter finds: the purge's delete and count come free.

A per-user table (`sharded = True`) spreads its rows over the storage shards by user
(`StorageClients.shard_of`). Its store reads and writes a user's rows on that user's shard, but deletes and
counts a scope on every shard, never trusting the hash: rows a different shard count placed elsewhere are
found all the same. The purge registry builds one view per shard (`shard=`), so a purge's evidence names
each shard's count, and a verification of zero is zero on every one of them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, ClassVar

from azure.data.tables import TableClient

from functions.adapters import table_batch
from functions.adapters.storage import StorageClients, translate_storage_errors
from functions.domain.scope import Scope

ScopeFilter = tuple[str, dict[str, Any]]


class ScopedTableStore(ABC):
    """Base of the table stores that hold subject data; meets `ScopedStore` (services/ports/purge.py)."""

    name: str  # the table; each store sets it (a view of one shard but the first is `{table}@shard{n}`)
    sharded: ClassVar[bool] = False

    def __init__(self, storage: StorageClients, *, shard: int | None = None) -> None:
        """`shard`: a view of that one shard of a sharded table, for the purge; None covers every shard."""
        if shard is not None and not (self.sharded and 0 <= shard < len(storage.shards)):
            raise ValueError(f"{type(self).__name__} has no shard {shard}")
        self._storage = storage
        self._shard = shard
        if shard:
            self.name = f"{self.table_name}@shard{shard}"

    @property
    def table_name(self) -> str:
        return type(self).name

    @property
    def _table(self) -> TableClient:
        """The table of a store that is not sharded (on the app's own account)."""
        if self.sharded:  # shard 0 alone would miss the other shards' rows without a word
            raise TypeError(f"{self.table_name} is sharded: reach it by user (_table_of) or on every shard")
        return self._storage.table(self.table_name)

    def _table_of(self, tenant_id: str, user_id: str) -> TableClient:
        """The table on the shard that holds `user_id`'s rows."""
        return self._storage.shard_of(tenant_id, user_id).table(self.table_name)

    def _swept(self) -> list[TableClient]:
        """The tables a scope's delete and count search: every shard, or this view's one."""
        if not self.sharded:
            return [self._table]
        shards = self._storage.shards if self._shard is None else (self._storage.shards[self._shard],)
        return [shard.table(self.table_name) for shard in shards]

    @abstractmethod
    def scope_filter(self, scope: Scope) -> ScopeFilter | None:
        """The filter matching every row of `scope`; None when this store holds nothing of such a scope."""

    def delete_scope(self, scope: Scope) -> int:
        query = self.scope_filter(scope)
        return 0 if query is None else sum(table_batch.delete_matching(t, *query) for t in self._swept())

    def count_scope(self, scope: Scope) -> int:
        query = self.scope_filter(scope)
        return 0 if query is None else sum(table_batch.count_matching(t, *query) for t in self._swept())

    def _rows(
        self, query: str, parameters: dict[str, Any], table: TableClient | None = None
    ) -> Iterator[Any]:
        with translate_storage_errors():
            yield from (table or self._table).query_entities(
                query, parameters=parameters, results_per_page=1000
            )
