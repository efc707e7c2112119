"""Table `shards` on the app's own account: which data shards hold rows of which tenant, so that a purge
cannot verify zero while rows sit on a shard it no longer searches.

A purge searches every shard `DATA_SHARDS` names (functions/adapters/scoped_table.py). Take a shard out of
that list and its rows are out of every purge's reach, and before this record the verification would still
have found zero: on the shards it searched. Now the storage clients note a tenant's shard (PartitionKey the
tenant, RowKey a hash of the shard's table endpoint, which the row keeps) the first time this process places
one of the tenant's users there (`StorageClients.shard_of`), and `ShardsOutOfReach` is a store of every purge:
it deletes nothing and counts the shards noted for the scope's tenant that `DATA_SHARDS` no longer names. A
verification that counts one is not zero, so the purge is not verified and is retried, flagged as its
deadline nears, and its evidence says `shards-out-of-reach`, until the shard is named again. Shard 0, the
app's own account, is never noted: it cannot be taken out. The rows name a tenant and an endpoint, nothing of
any person, and outlive a purge on purpose.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from functions.adapters.scoped_table import ScopedTableStore, ScopeFilter
from functions.adapters.storage import SHARDS_TABLE, translate_storage_errors
from functions.domain.scope import Scope

if TYPE_CHECKING:
    from azure.data.tables import TableClient


def noted_endpoints(table: TableClient, tenant_id: str) -> set[str]:
    """The table endpoints of the shards noted for a tenant."""
    with translate_storage_errors():
        rows = table.query_entities("PartitionKey eq @pk", parameters={"pk": tenant_id.lower()})
        return {str(row["endpoint"]) for row in rows}


class ShardsOutOfReach(ScopedTableStore):
    """The purge's view of table `shards`: how many shards noted for the scope's tenant are not named by
    `DATA_SHARDS` any more (each may hold rows of the scope that no purge can reach). It deletes nothing."""

    name = "shards-out-of-reach"

    @property
    def table_name(self) -> str:
        return SHARDS_TABLE

    def scope_filter(self, scope: Scope) -> ScopeFilter | None:
        if scope.kind == "feature":
            return None  # the per-user tables hold nothing of a feature scope
        return "PartitionKey eq @pk", {"pk": scope.tenant_id.lower()}

    def delete_scope(self, scope: Scope) -> int:  # noqa: ARG002  (the store protocol's signature)
        return 0  # nothing here is the scope's data; the rows of a shard out of reach are out of reach

    def count_scope(self, scope: Scope) -> int:
        if self.scope_filter(scope) is None:
            return 0
        searched = {shard.table_endpoint for shard in self._storage.shards[1:]}
        return len(noted_endpoints(self._table, scope.tenant_id) - searched)
