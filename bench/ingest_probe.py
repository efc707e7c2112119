"""Run in a subprocess by bench/ingest.py: one tenant's whole backfill, end to end, as the host runs it.

The simulator serving the tenant and Azurite are other processes; this one is the worker (the app's real
container: fences, Graph adapter, slice / contact / account writes, cursors, audit), running every window the
scheduler queued on as many threads as the host's queue batch runs at once. It prints one JSON line: counts,
seconds, the storage requests and entity operations it sent (counted by a pipeline policy on the table
clients), the stored size of what it wrote (Azure's billing formula) and its own peak RSS.

    python -m bench.ingest_probe CONNECTION_STRING GRAPH_URL TOKEN NOW CONCURRENCY
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from azure.core.pipeline import PipelineRequest

from functions.adapters.storage import StorageClients
from functions.adapters.table_batch import prefix_range
from functions.settings import Settings
from graphsim.server import GraphSimulator
from tests.conftest import base_env
from tests.support.ingestion_rig import Rig

DATA_TABLES = ("slices", "contacts", "accounts")


class RequestCounter:
    """Counts what reaches Table Storage (the SDK's `raw_request_hook`, which every table client of the
    service inherits): requests, and the operations inside each changeset."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.operations = 0

    def __call__(self, request: PipelineRequest[Any]) -> None:
        http = request.http_request
        body = http.body if isinstance(http.body, bytes) else b""
        operations = body.count(b"Content-Type: application/http") if http.url.endswith("$batch") else 1
        with self._lock:
            self.requests += 1
            self.operations += max(operations, 1)


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
        rows = storage.table(name).query_entities(
            "PartitionKey ge @s and PartitionKey lt @e", parameters={"s": start, "e": end}
        )
        for row in rows:
            entities += 1
            size += 4 + 2 * (len(row["PartitionKey"]) + len(row["RowKey"]))
            for key, value in row.items():
                if key in ("PartitionKey", "RowKey"):
                    continue
                size += 8 + 2 * len(key) + (2 * len(value) + 4 if isinstance(value, str) else 8)
    return entities, size


def main(argv: list[str]) -> None:
    connection_string, graph_url, token, now_text, concurrency = argv
    counter = RequestCounter()
    storage = counting_storage(connection_string, counter)
    address = cast("GraphSimulator", SimulatorAddress(graph_url, token))
    rig = Rig(storage, address, str(uuid.uuid4()), now=datetime.fromisoformat(now_text))
    rig.grant()
    requests = rig.schedule()
    before = (counter.requests, counter.operations)
    started, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(max_workers=int(concurrency)) as pool:
        statuses = list(pool.map(rig.worker.run, requests))
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    # The ingestion's peak, before this probe reads the tenant back to count it (KiB on Linux).
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sent = (counter.requests - before[0], counter.operations - before[1])
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
        "storageRequests": sent[0],
        "storageOperations": sent[1],
        "entities": entities,
        "storedBytes": size,
        "maxRssKiB": max_rss,
    }
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
