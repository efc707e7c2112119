"""Helpers of the sharding tests: users placed on a chosen shard, and each shard's rows of a table."""

from __future__ import annotations

import uuid

from functions.adapters.storage import StorageClients, shard_index
from functions.adapters.table_batch import prefix_range
from tests.conftest import SHARDS
from tests.support.purge_data import ZERO

SHARDED = ("slices", "contacts")
# What a verification of zero reads on three shards: each per-user table once per shard.
SHARDED_ZERO = {**ZERO, **{f"{table}@shard{n}": 0 for table in SHARDED for n in range(1, SHARDS)}}


def user_on(tenant_id: str, shard: int) -> str:
    """A user ID that `shard_index` places on `shard`."""
    while True:
        user = str(uuid.uuid4())
        if shard_index(tenant_id, user, SHARDS) == shard:
            return user


def rows_per_shard(storage: StorageClients, table: str, tenant_id: str) -> list[int]:
    start, end = prefix_range(f"{tenant_id.lower()}_")
    query = "PartitionKey ge @start and PartitionKey lt @end"
    return [
        sum(1 for _ in shard.table(table).query_entities(query, parameters={"start": start, "end": end}))
        for shard in storage.shards
    ]
