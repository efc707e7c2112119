"""Run by bench/against.py as a script, with the checkout to measure as its first argument: one tenant's whole
backfill through *that checkout's* worker, as bench/ingest_probe.py runs it, but with only what every version
of the rig has had since the ingestion benchmark began (so that older commits can be measured the same way).
Prints one JSON line: windows, messages, seconds, CPU seconds, peak RSS.

    python bench/code_probe.py CHECKOUT CONNECTION_STRING GRAPH_URL TOKEN NOW THREADS
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class SimulatorAddress:
    graph_url: str
    token: str


def main(argv: list[str]) -> None:
    checkout, connection_string, graph_url, token, now, threads = argv
    sys.path[0] = checkout  # the checkout's `functions` and `tests`, not this one's
    from functions.adapters.storage import StorageClients  # noqa: PLC0415  (from the checkout given)
    from functions.settings import Settings  # noqa: PLC0415
    from tests.conftest import base_env  # noqa: PLC0415
    from tests.support.ingestion_rig import Rig  # noqa: PLC0415

    storage = StorageClients(Settings.from_env({**os.environ, **base_env(connection_string)}).storage)
    address: Any = SimulatorAddress(graph_url, token)
    rig = Rig(storage, address, str(uuid.uuid4()), now=datetime.fromisoformat(now))
    rig.grant()
    requests = rig.schedule()
    started, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(max_workers=int(threads)) as pool:
        statuses = list(pool.map(rig.worker.run, requests))
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cursors = rig.cursors.tenant(rig.tenant_id).cursors
    result = {
        "windows": len(requests),
        "succeeded": statuses.count("succeeded"),
        "messages": sum(c.counts.get("messages", 0) for c in cursors),
        "seconds": seconds,
        "cpuSeconds": cpu_seconds,
        "maxRssKiB": max_rss,
    }
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
