"""Run in a subprocess by bench/ingest.py: one tenant's whole backfill, end to end, as the host runs it.

The simulator serving the tenant and Azurite are other processes; this one is the worker (the app's real
container: fences, Graph adapter, slice / contact / account writes, cursors, audit), running every window the
scheduler queued on as many threads as the host's queue batch runs at once. It prints one JSON line: counts,
seconds, the storage requests and entity operations it sent (counted by a pipeline policy on the table
clients), the stored size of what it wrote (Azure's billing formula) and its own peak RSS. With `DATA_SHARDS`
in its environment the per-user tables are spread over those accounts, as the app spreads them; the counts
then say how many entity operations went to each account.

The worker shares the machine with the emulator and the simulator. Given their process IDs (`name=pid`,
comma-separated), it also reports the CPU each of them used while the windows ran, and no other time: what
the three processes together spend per message bounds the rate the machine's cores allow, whatever this code
does.

    python -m bench.ingest_probe CONNECTION_STRING GRAPH_URL TOKEN NOW CONCURRENCY [NAME=PID,...]
"""

from __future__ import annotations

import json
import os
import re
import resource
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from azure.core.pipeline import PipelineRequest

from devhost.azurite import cpu_seconds_of
from functions.adapters.contact_store import TableContactStore
from functions.adapters.slice_store import TableSliceStore
from functions.adapters.storage import StorageClients
from functions.adapters.table_batch import prefix_range
from functions.settings import Settings
from graphsim.server import GraphSimulator
from tests.conftest import base_env
from tests.support.ingestion_rig import Rig

DATA_TABLES = ("slices", "contacts", "accounts")
SHARDED_TABLES = frozenset(store.name for store in (TableSliceStore, TableContactStore) if store.sharded)
# The account and the table a request is about: the path's first segment (Azurite's path-style URLs) and
# the next, or in a changeset the first operation's URL.
_ACCOUNT = re.compile(r"^https?://[^/]+/([^/?]+)/")
_TABLE = re.compile(rb"(?:MERGE|PUT|DELETE|POST|GET) https?://[^/]+/[^/]+/([A-Za-z0-9]+)")


class RequestCounter:
    """Counts what reaches Table Storage (the SDK's `raw_request_hook`, which every table client of the
    service inherits): requests, the operations inside each changeset, and where the operations went (the
    per-user tables or the others; each storage account)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.operations = 0
        self.sharded_operations = 0
        self.by_account: dict[str, int] = {}
        self.changesets: dict[str, list[int]] = {}  # table -> [changesets, operations in them]

    def __call__(self, request: PipelineRequest[Any]) -> None:
        http = request.http_request
        body = http.body if isinstance(http.body, bytes) else b""
        batch = http.url.endswith("$batch")
        operations = max(body.count(b"Content-Type: application/http") if batch else 1, 1)
        table = _TABLE.search(body) if batch else _TABLE.search(f"GET {http.url}".encode())
        account = _ACCOUNT.match(http.url)
        with self._lock:
            self.requests += 1
            self.operations += operations
            if table is not None and table.group(1).decode() in SHARDED_TABLES:
                self.sharded_operations += operations
            name = account.group(1) if account else "?"
            self.by_account[name] = self.by_account.get(name, 0) + operations
            if batch and table is not None:
                sent = self.changesets.setdefault(table.group(1).decode(), [0, 0])
                sent[0] += 1
                sent[1] += operations


def counting_storage(connection_string: str, counter: RequestCounter) -> StorageClients:
    settings = Settings.from_env({**os.environ, **base_env(connection_string)}).storage
    return StorageClients(settings, client_options={"raw_request_hook": counter})


@dataclass(frozen=True, slots=True)
class SimulatorAddress:
    """What the rig needs of a simulator running in another process."""

    graph_url: str
    token: str


def stored_bytes(storage: StorageClients, tenant_id: str) -> tuple[int, int]:
    """(entities, bytes) of the tenant's rows in the data tables, sized as Azure bills them: 4 + 2 x the
    key lengths + for each property 8 + 2 x its name + its value (UTF-16 text, 8-byte numbers and dates)."""
    entities = size = 0
    start, end = prefix_range(f"{tenant_id}_")
    for name in DATA_TABLES:
        for row in _rows(storage, name, start, end):
            entities += 1
            size += 4 + 2 * (len(row["PartitionKey"]) + len(row["RowKey"]))
            for key, value in row.items():
                if key in ("PartitionKey", "RowKey"):
                    continue
                size += 8 + 2 * len(key) + (2 * len(value) + 4 if isinstance(value, str) else 8)
    return entities, size


def _rows(storage: StorageClients, table: str, start: str, end: str) -> Iterator[Any]:
    for shard in storage.shards if table in SHARDED_TABLES else (storage,):
        yield from shard.table(table).query_entities(
            "PartitionKey ge @s and PartitionKey lt @e", parameters={"s": start, "e": end}
        )


def _watched(argument: str) -> dict[str, int]:
    """`emulator=123,simulator=456` -> {"emulator": 123, "simulator": 456}."""
    pairs = (item.split("=", 1) for item in argument.split(",") if item)
    return {name: int(pid) for name, pid in pairs}


def _cpu_of(watched: dict[str, int]) -> dict[str, float]:
    seconds = {name: cpu_seconds_of(pid) for name, pid in watched.items()}
    return {name: value for name, value in seconds.items() if value is not None}


def main(argv: list[str]) -> None:
    connection_string, graph_url, token, now_text, concurrency, *rest = argv
    watched = _watched(rest[0]) if rest else {}
    counter = RequestCounter()
    storage = counting_storage(connection_string, counter)
    address = cast("GraphSimulator", SimulatorAddress(graph_url, token))
    rig = Rig(storage, address, str(uuid.uuid4()), now=datetime.fromisoformat(now_text))
    rig.grant()
    requests = rig.schedule()
    before = (counter.requests, counter.operations, counter.sharded_operations, dict(counter.by_account))
    changesets_before = {table: (n, ops) for table, (n, ops) in counter.changesets.items()}
    others = _cpu_of(watched)
    started, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(max_workers=int(concurrency)) as pool:
        statuses = list(pool.map(rig.worker.run, requests))
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    others_after = _cpu_of(watched)
    other_cpu = {name: others_after[name] - others[name] for name in others_after.keys() & others.keys()}
    # The ingestion's peak, before this probe reads the tenant back to count it (KiB on Linux).
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sent = (
        counter.requests - before[0],
        counter.operations - before[1],
        counter.sharded_operations - before[2],
    )
    by_account = {name: n - before[3].get(name, 0) for name, n in counter.by_account.items()}
    changesets: dict[str, list[int]] = {}
    for table, (n, ops) in counter.changesets.items():
        n_before, ops_before = changesets_before.get(table, (0, 0))
        changesets[table] = [n - n_before, ops - ops_before]
    cursors = rig.cursors.tenant(rig.tenant_id).cursors
    entities, size = stored_bytes(storage, rig.tenant_id)
    result = {
        "windows": len(requests),
        "succeeded": statuses.count("succeeded"),
        "messages": sum(c.counts.get("messages", 0) for c in cursors),
        "meetings": sum(c.counts.get("meetings", 0) for c in cursors),
        "interactions": sum(c.counts.get("interactions", 0) for c in cursors),
        "seconds": seconds,
        "cpuSeconds": cpu_seconds,
        "otherCpuSeconds": other_cpu,
        "storageRequests": sent[0],
        "storageOperations": sent[1],
        "shardedOperations": sent[2],
        "operationsByAccount": by_account,
        "changesetsByTable": changesets,
        "entities": entities,
        "storedBytes": size,
        "maxRssKiB": max_rss,
    }
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
