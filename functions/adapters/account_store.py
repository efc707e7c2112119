"""The account index in table `accounts`: PartitionKey `{tenantId}_{accountHash}`, RowKey a contact hash.

An account is the external email domain of some contacts. Like an address, a domain is stored only as a keyed
hash (functions/domain/contacts.py `account_hash`), and the index names contacts only by their hashes: it
holds nothing of any user, so a user purge finds nothing here; a tenant purge deletes the tenant's range.
Ingestion adds to it as it writes the contact index; the account view reads one partition, then each
contact's key range of the contact index.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from functions.adapters import table_batch
from functions.adapters.scoped_table import ScopedTableStore, ScopeFilter
from functions.adapters.table_rows import Entity
from functions.domain.scope import Scope

TABLE = "accounts"


def account_partition(tenant_id: str, account: str) -> str:
    return f"{tenant_id.lower()}_{account}"


class TableAccountStore(ScopedTableStore):
    name = TABLE

    def add(self, tenant_id: str, pairs: Iterable[tuple[str, str]]) -> int:
        rows: dict[tuple[str, str], Entity] = {
            (account, contact): {"PartitionKey": account_partition(tenant_id, account), "RowKey": contact}
            for account, contact in pairs
        }
        return table_batch.upsert_all(self._table, (rows[key] for key in sorted(rows)))

    def contacts(self, tenant_id: str, account: str) -> list[str]:
        rows = self._rows("PartitionKey eq @pk", {"pk": account_partition(tenant_id, account)})
        return [str(row["RowKey"]) for row in rows]

    def scope_filter(self, scope: Scope) -> ScopeFilter | None:
        return _scope_query(scope)


def _scope_query(scope: Scope) -> tuple[str, dict[str, Any]] | None:
    if scope.kind != "tenant":
        return None  # no user's data is here, and both features use accounts
    start, end = table_batch.prefix_range(f"{scope.tenant_id.lower()}_")
    return "PartitionKey ge @start and PartitionKey lt @end", {"start": start, "end": end}
