"""(b) End-to-end ingestion through the Graph simulator and Azurite: messages per second.

A synthetic tenant served by `python -m graphsim` (its own process), the real worker (Graph adapter, fences,
slice and contact-index writes, cursors, audit) running the tenant's 12-window backfill on 6 threads, as the
host runs a batch of queue messages. Wall-clock time from the first window to the last.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import httpx

from bench.framework import Context, Figure
from bench.memory import TOKEN, start_simulator, stop
from functions.adapters.storage import StorageClients
from functions.settings import Settings
from graphsim.server import GraphSimulator
from tests.conftest import base_env
from tests.support.ingestion_rig import Rig

TITLE = "(b) end-to-end ingestion: Graph simulator -> worker -> Azurite"
USERS = 8
MESSAGES_PER_USER_PER_MONTH = 40


@dataclass(frozen=True, slots=True)
class SimulatorAddress:
    """What the rig needs of a simulator running in another process."""

    graph_url: str
    token: str


def storage(ctx: Context) -> StorageClients:
    return StorageClients(Settings.from_env(base_env(ctx.azurite().connection_string)).storage)


def run(ctx: Context) -> list[Figure]:
    args = ["--users", str(USERS), "--messages-per-month", str(MESSAGES_PER_USER_PER_MONTH)]
    sim = start_simulator(ctx, [*args, "--meetings-per-month", "4", "--contacts", "200"])
    try:
        now = datetime.fromisoformat(httpx.get(sim["url"] + "/_sim/tenant", timeout=30).json()["now"])
        address = cast("GraphSimulator", SimulatorAddress(sim["graphUrl"], TOKEN))
        rig = Rig(storage(ctx), address, str(uuid.uuid4()), now=now)
        rig.grant()
        started = time.perf_counter()
        requests = rig.schedule()
        statuses = rig.drain(requests)
        seconds = time.perf_counter() - started
    finally:
        stop(sim["process"])
    cursors = rig.cursors.tenant(rig.tenant_id).cursors
    messages = sum(c.counts.get("messages", 0) for c in cursors)
    meetings = sum(c.counts.get("meetings", 0) for c in cursors)
    interactions = sum(c.counts.get("interactions", 0) for c in cursors)
    ok = sum(1 for s in statuses if s == "succeeded")
    ctx.say(f"{len(requests)} windows ({ok} succeeded): {messages:,} messages, {meetings:,} events")
    ctx.say(f"{interactions:,} interactions written to the slices and the contact index")
    ctx.say(f"{seconds:.1f} s wall clock")
    detail: dict[str, Any] = {
        "windows": len(requests),
        "interactions": interactions,
        "seconds": round(seconds, 1),
    }
    return [
        Figure("end-to-end ingestion (simulator + Azurite)", messages / seconds, "msg/s", detail=str(detail)),
        Figure("end-to-end ingestion, windows", len(requests) / seconds, "windows/s"),
    ]
