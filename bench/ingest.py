"""(b) End-to-end ingestion at tenant scale: a 100-user tenant's year (about 100,000 messages plus meetings).

The Graph simulator (`python -m graphsim`) and Azurite run in processes of their own; the worker runs in a
third (`bench.ingest_probe`), so its peak RSS is the ingestion's alone. It runs every window the scheduler
queued on 16 threads, as the host runs a queue batch (host.json `batchSize`). A 10-user tenant of the same
shape runs first: memory is flat when the 100-user run peaks within 10 % of it.

The ceiling, measured in the same run on the same Azurite: upserts of fresh entities in changesets of 100
(the app's own writer), entities per second. With the entities one message produces (stored rows of the
slices, the contact index and the account index per message), it says how many messages per second the
emulator could take at best; the target is half of that. docs/capacity.md turns these per-message costs into
a capacity model (`python -m bench.capacity`), which needs to know how many of a message's entity operations
go to the per-user tables that data shards spread (`DATA_SHARDS`) and how many stay on the app's account.

The contact index cannot be written in changesets of 100: it is read one contact at a time, so its partitions
begin with the contact, and a window writes one changeset per contact it names. The emulator's rate depends
mostly on the number of requests, so the ceiling is measured a second time in changesets of the contact
index's average size in this run, and the figure beside the target says what the emulator allows with the
contact index written at that size and everything else in changesets of 100.

The three processes share this machine's cores, so a rate measured here is bounded by the CPU all three
spend per message, not by the emulator's ceiling, which is measured with the worker idle. The probe reads the
CPU the emulator and the simulator use while the windows run, beside its own, and the run prints what the
machine allows at that cost (`machine_budget`) and how much of it was reached.

Last, the 100-user tenant once more with its per-user tables over three accounts of the same Azurite (the
app's and two shards): how the operations divide among the accounts, and the rate. One Azurite process serves
all three, on the same cores, so the rate says nothing of three real accounts' targets; what it does change
is the size of each account's partitions, which is what slows this emulator (see the partition figure).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.framework import RESULTS, Context, Figure
from bench.memory import TOKEN, start_simulator, stop
from functions.adapters import table_batch
from functions.adapters.contact_store import TABLE as CONTACT_TABLE
from functions.adapters.storage import StorageClients
from functions.settings import Settings
from tests.conftest import base_env

TITLE = "(b) end-to-end ingestion at tenant scale: simulator -> worker -> Azurite"
SIZES = {"10 users": 10, "100 users": 100}
SHARDED_RUN = ("100 users, 3 accounts", 100, 2)  # label, users, shards beyond the app's account
MESSAGES_PER_USER_PER_MONTH = 84  # 100 users x 12 months x 84 = 100,800 messages
MEETINGS_PER_USER_PER_MONTH = 4
CONTACTS = 5_000
HOST_BATCH = 16  # host.json extensions.queues.batchSize: messages one instance runs at once
# What the Function App's settings give its worker (infra/modules/functionapp.bicep): glibc keeps at most two
# malloc arenas, instead of one per thread that ever allocated (up to 8 per core), which grew RSS per window.
WORKER_ENV = {"MALLOC_ARENA_MAX": "2"}
CEILING_ENTITIES = 20_000
FULL_PARTITION = (
    20_000  # the top contact's partition in the 100-user tenant when the index had one per contact
)
PROBE_ENTITIES = 1_000
RATIO_TARGET = 0.5
FLAT_RATIO = 1.10
MONTHS = 12


def storage(ctx: Context) -> StorageClients:
    return StorageClients(Settings.from_env(base_env(ctx.azurite().connection_string)).storage)


def ceiling(ctx: Context, per_changeset: int = 100) -> float:
    """Entities per second Azurite takes in changesets of `per_changeset` (fresh rows, a partition per
    changeset)."""
    table = storage(ctx).table(f"ceiling{per_changeset}")
    at = datetime.now(UTC)
    entities = [
        {
            "PartitionKey": f"p{p:05d}",
            "RowKey": f"r{i:04d}",
            "run": "ceiling",
            "key": "k" * 64,
            "kind": "message",
            "userId": "u" * 36,
            "contact": "c" * 64,
            "at": at,
            "direction": "inbound",
            "userRole": "to",
            "contactRole": "from",
            "conversation": "v" * 64,
            "minutes": 0.0,
            "account": "a" * 64,
        }
        for p in range(CEILING_ENTITIES // per_changeset)
        for i in range(per_changeset)
    ]
    started = time.perf_counter()
    table_batch.upsert_all(table, entities)
    return CEILING_ENTITIES / (time.perf_counter() - started)


def partition_penalty(ctx: Context) -> tuple[float, float]:
    """Seconds per upserted entity (changesets of 100) into a fresh partition and into one already holding
    `FULL_PARTITION` rows. Azurite finds an entity by its PartitionKey index, then scans that partition's rows
    for the RowKey, so its upserts slow as a partition grows; Table Storage's do not. The hot contacts of
    the benchmark tenant (the simulator's contacts are Zipf-weighted) grew such partitions in the contact
    index while it had one partition per contact; it now has one per contact and user, and a user's slice
    (about 1,300 rows a year) is the largest partition ingestion writes into."""
    table = storage(ctx).table("penalty")
    table_batch.upsert_all(table, (_row("full", i) for i in range(FULL_PARTITION)))
    seconds = []
    for partition in ("fresh", "full"):
        started = time.perf_counter()
        table_batch.upsert_all(table, (_row(partition, FULL_PARTITION + i) for i in range(PROBE_ENTITIES)))
        seconds.append((time.perf_counter() - started) / PROBE_ENTITIES)
    return seconds[0], seconds[1]


def _row(partition: str, i: int) -> dict[str, Any]:
    return {"PartitionKey": partition, "RowKey": f"r{i:06d}", "run": "penalty", "key": "k" * 64}


def ingest(ctx: Context, users: int, shards: int = 0) -> dict[str, Any]:
    sim = start_simulator(
        ctx,
        [
            "--users", str(users), "--messages-per-month", str(MESSAGES_PER_USER_PER_MONTH),
            "--meetings-per-month", str(MEETINGS_PER_USER_PER_MONTH), "--contacts", str(CONTACTS),
        ],
    )  # fmt: skip
    try:
        now = httpx.get(sim["url"] + "/_sim/tenant", timeout=30).json()["now"]
        httpx.post(sim["url"] + "/_sim/stats/reset", timeout=30)
        connection = ctx.azurite().connection_string
        command = [sys.executable, "-m", "bench.ingest_probe", connection, sim["graphUrl"], TOKEN, now]
        spread = {"DATA_SHARDS": ctx.azurite().data_shards(shards)} if shards else {}
        watched = {"emulator": ctx.azurite().pid, "simulator": sim["process"].pid}
        pids = ",".join(f"{name}={pid}" for name, pid in watched.items() if pid is not None)
        done = subprocess.run(
            [*command, str(HOST_BATCH), pids], capture_output=True, text=True, check=False,
            env={**os.environ, **WORKER_ENV, **spread},
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"the ingestion probe failed:\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        result["graphRequests"] = httpx.get(sim["url"] + "/_sim/stats", timeout=30).json()["requests"]
        result["mailboxes"] = sum(
            1 for u in httpx.get(sim["url"] + "/_sim/tenant", timeout=30).json()["users"] if u.get("mail")
        )
    finally:
        stop(sim["process"])
    return result


def run(ctx: Context) -> list[Figure]:
    runs = {label: ingest(ctx, users) for label, users in SIZES.items()}
    label, users, shards = SHARDED_RUN
    runs[label] = ingest(ctx, users, shards)
    limit = ceiling(ctx)
    small, big, spread = runs["10 users"], runs["100 users"], runs[SHARDED_RUN[0]]
    contact_sets, contact_ops = big["changesetsByTable"][CONTACT_TABLE]
    shape = max(round(contact_ops / contact_sets), 1)
    shaped = ceiling(ctx, shape)
    fresh, full = partition_penalty(ctx)
    for label, r in runs.items():
        ctx.say(
            f"{label}: {r['windows']} windows ({r['succeeded']} succeeded), {r['messages']:,} messages, "
            f"{r['meetings']:,} events, {r['interactions']:,} interactions in {r['seconds']:.1f} s; "
            f"peak RSS {r['maxRssKiB'] / 1024:.0f} MiB"
        )
    per_message = big["entities"] / big["messages"]
    allows = limit / per_message
    rate = big["messages"] / big["seconds"]
    ctx.say(f"ceiling: {limit:,.0f} entities/s in changesets of 100; {per_message:.2f} entities per message")
    ctx.say(f"so the emulator allows at most {allows:,.0f} msg/s; reached {rate:,.0f} ({rate / allows:.0%})")
    # The contact index is read one contact at a time, so its partitions begin with the contact, and a
    # changeset holds one partition: a window's rows of one contact, however they are batched.
    contact_per_message = contact_ops / big["messages"]
    allows_shaped = 1 / (contact_per_message / shaped + (per_message - contact_per_message) / limit)
    ctx.say(
        f"the contact index's changesets hold {contact_ops / contact_sets:.1f} rows ({contact_sets:,} "
        f"changesets); in changesets of {shape} the emulator takes {shaped:,.0f} entities/s, so with the "
        f"contact index at that size it allows {allows_shaped:,.0f} msg/s; reached {rate / allows_shaped:.0%}"
    )
    ctx.say(
        f"an upsert into a partition of {FULL_PARTITION:,} rows takes {full * 1000:.2f} ms, into a fresh one "
        f"{fresh * 1000:.2f} ms ({full / fresh:.1f}x): the emulator scans a partition for each key"
    )
    costs = per_message_costs(big)
    _write_costs(costs, limit)
    machine = machine_budget(big)
    if machine is not None:
        ctx.say(
            f"CPU per message: worker {machine['worker'] * 1000:.2f} ms, emulator "
            f"{machine['emulator'] * 1000:.2f} ms, simulator {machine['simulator'] * 1000:.2f} ms; on "
            f"{machine['cores']:.0f} cores that allows {machine['allows']:,.0f} msg/s ({machine['bound']}); "
            f"reached {rate / machine['allows']:.0%}"
        )
    rss_ratio = big["maxRssKiB"] / small["maxRssKiB"]
    sharded_share = big["shardedOperations"] / big["storageOperations"]
    by_account = spread["operationsByAccount"]
    busiest = max(by_account.values()) / sum(by_account.values())
    spread_rate = spread["messages"] / spread["seconds"]
    ctx.say(
        f"{sharded_share:.0%} of the entity operations are on the per-user tables; over 3 accounts they "
        f"divide {', '.join(f'{n:,}' for n in by_account.values())} ({busiest:.0%} on the busiest)"
    )
    return [
        Figure("ingestion, 100 users (msg/s)", rate, "msg/s", detail=json.dumps(big)),
        Figure("ingestion, 10 users (msg/s)", small["messages"] / small["seconds"], "msg/s"),
        Figure("Azurite insert ceiling, changesets of 100", limit, "entities/s"),
        Figure("ingestion / what the ceiling allows", rate / allows, "ratio", target=RATIO_TARGET),
        Figure(
            f"Azurite insert rate, changesets of {shape} (the contact index's size)", shaped, "entities/s"
        ),
        Figure(
            "ingestion / what that allows with the contact index at its size", rate / allows_shaped, "ratio"
        ),
        Figure("storage requests per 1,000 messages", costs["storageRequestsPerMessage"] * 1000, "requests"),
        Figure("entity operations per 1,000 messages", costs["storageOperationsPerMessage"] * 1000, "ops"),
        Figure("Graph requests per mailbox-year", costs["graphRequestsPerMailboxYear"], "requests"),
        Figure("bytes stored per message", costs["storedBytesPerMessage"], "bytes"),
        Figure("worker CPU per 1,000 messages", costs["cpuSecondsPerMessage"] * 1000, "s"),
        *_machine_figures(machine, rate),
        Figure("peak RSS, 100 users / 10 users", rss_ratio, "ratio", target=FLAT_RATIO, comparison="<="),
        Figure(f"Azurite upsert, {FULL_PARTITION:,}-row partition / fresh one", full / fresh, "ratio"),
        Figure("entity operations on the per-user (sharded) tables", sharded_share, "ratio"),
        Figure(
            "ingestion, 100 users over 3 accounts (msg/s)", spread_rate, "msg/s", detail=json.dumps(spread)
        ),
        Figure("busiest of 3 accounts' share of entity operations", busiest, "ratio"),
    ]


def per_message_costs(r: dict[str, Any]) -> dict[str, float]:
    messages = r["messages"]
    return {
        "messagesPerMailboxYear": messages / r["mailboxes"],
        "storageRequestsPerMessage": r["storageRequests"] / messages,
        "storageOperationsPerMessage": r["storageOperations"] / messages,
        "shardedOperationsPerMessage": r["shardedOperations"] / messages,
        "entitiesPerMessage": r["entities"] / messages,
        "graphRequestsPerMailboxYear": r["graphRequests"] / r["mailboxes"],
        "storedBytesPerMessage": r["storedBytes"] / messages,
        "cpuSecondsPerMessage": r["cpuSeconds"] / messages,
        "secondsPerMessageOneInstance": r["seconds"] / messages,
    }


def machine_budget(r: dict[str, Any], cores: int | None = None) -> dict[str, Any] | None:
    """What this machine's CPU allows, from what the worker, the emulator and the simulator each spent per
    message while the windows ran. The worker is one interpreter and the emulator serves on one thread, so
    each takes at most a core; the three together take at most every core this process may use. None where
    the others' CPU could not be read."""
    other = r.get("otherCpuSeconds", {})
    if not {"emulator", "simulator"} <= other.keys():
        return None
    messages = r["messages"]
    spent = {
        "worker": r["cpuSeconds"] / messages,
        "emulator": other["emulator"] / messages,
        "simulator": other["simulator"] / messages,
    }
    cores = cores or len(os.sched_getaffinity(0))
    total = sum(spent.values())
    bounds = {
        f"{cores} cores for all three": cores / total,
        "the worker's one interpreter": 1 / spent["worker"],
        "the emulator's one thread": 1 / spent["emulator"],
    }
    bound = min(bounds, key=lambda name: bounds[name])
    return {**spent, "total": total, "cores": cores, "allows": bounds[bound], "bound": bound}


def _machine_figures(machine: dict[str, Any] | None, rate: float) -> list[Figure]:
    if machine is None:
        return []
    return [
        Figure("emulator CPU per 1,000 messages", machine["emulator"] * 1000, "s"),
        Figure("simulator CPU per 1,000 messages", machine["simulator"] * 1000, "s"),
        Figure("worker + emulator + simulator CPU per 1,000 messages", machine["total"] * 1000, "s"),
        Figure(f"what this machine's CPU allows ({machine['bound']})", machine["allows"], "msg/s"),
        Figure("ingestion / what the machine's CPU allows", rate / machine["allows"], "ratio"),
    ]


def _write_costs(costs: dict[str, float], limit: float) -> None:
    """The measured per-message costs the capacity model reads (bench/results/ingest-costs.json)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    document = {"at": datetime.now(UTC).isoformat(), "ceilingEntitiesPerSecond": limit, **costs}
    (RESULTS / "ingest-costs.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
