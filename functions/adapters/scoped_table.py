"""A table store whose traces of a scope one OData filter finds: the purge's delete and count come free."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

from azure.data.tables import TableClient

from functions.adapters import table_batch
from functions.adapters.storage import StorageClients, translate_storage_errors
from functions.domain.scope import Scope

ScopeFilter = tuple[str, dict[str, Any]]


class ScopedTableStore(ABC):
    """Base of the table stores that hold subject data; meets `ScopedStore` (services/ports/purge.py)."""

    name: str  # the table; each store sets it

    def __init__(self, storage: StorageClients) -> None:
        self._storage = storage

    @property
    def _table(self) -> TableClient:
        return self._storage.table(self.name)

    @abstractmethod
    def scope_filter(self, scope: Scope) -> ScopeFilter | None:
        """The filter matching every row of `scope`; None when this store holds nothing of such a scope."""

    def delete_scope(self, scope: Scope) -> int:
        query = self.scope_filter(scope)
        return 0 if query is None else table_batch.delete_matching(self._table, *query)

    def count_scope(self, scope: Scope) -> int:
        query = self.scope_filter(scope)
        return 0 if query is None else table_batch.count_matching(self._table, *query)

    def _rows(self, query: str, parameters: dict[str, Any]) -> Iterator[Any]:
        with translate_storage_errors():
            yield from self._table.query_entities(query, parameters=parameters, results_per_page=1000)
