"""(c) Memory stays flat as mailboxes grow: peak RSS reading a ~5,000- and a ~50,000-message mailbox.

Each size runs in its own subprocess (`bench.memory_probe`), so `ru_maxrss` is that reading alone; the Graph
simulator serving the mailbox is another process (`python -m graphsim`). Flat means the 50k reading peaks
within 25 % of the 5k one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from typing import Any

import httpx

from bench.framework import Context, Figure

TITLE = "(c) peak RSS of one mailbox read: ~5,000 vs ~50,000 messages"
TOKEN = "bench-graph-token"  # noqa: S105  (the simulator's loopback test token)
SIZES = {"5k": 330, "50k": 3_300}  # messages per user per month for the simulator (2 users)
FLAT_RATIO = 1.25


def start_simulator(ctx: Context, args: list[str]) -> dict[str, Any]:
    process = subprocess.Popen(
        [sys.executable, "-m", "graphsim", "--token", TOKEN, *args], stdout=subprocess.PIPE, text=True
    )
    ctx.add_cleanup(lambda: stop(process))
    line = process.stdout.readline() if process.stdout else ""
    if not line:
        raise RuntimeError("the Graph simulator did not start")
    info: dict[str, Any] = json.loads(line)
    info["process"] = process
    return info


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=10)


def probe(ctx: Context, per_month: int) -> dict[str, int]:
    sim = start_simulator(
        ctx,
        [
            "--users",
            "2",
            "--contacts",
            "300",
            "--messages-per-month",
            str(per_month),
            "--meetings-per-month",
            "0",
        ],
    )
    try:
        tenant = httpx.get(sim["url"] + "/_sim/tenant", timeout=30).json()
        user = next(u for u in tenant["users"] if u["mail"])
        end = datetime.fromisoformat(tenant["now"]) + timedelta(days=1)
        start = end - timedelta(days=367)
        command = [sys.executable, "-m", "bench.memory_probe", sim["graphUrl"], TOKEN, user["id"]]
        command += [start.isoformat(), end.isoformat()]
        run = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600)
        result: dict[str, int] = json.loads(run.stdout.strip().splitlines()[-1])
    finally:
        stop(sim["process"])
    return result


def run(ctx: Context) -> list[Figure]:
    results = {}
    for label, per_month in SIZES.items():
        results[label] = probe(ctx, per_month)
        r = results[label]
        rss = r["maxRssKiB"] / 1024
        ctx.say(
            f"{label}: {r['messages']:,} messages, {r['interactions']:,} interactions, peak RSS {rss:.1f} MiB"
        )
    small, large = results["5k"], results["50k"]
    ratio = large["maxRssKiB"] / small["maxRssKiB"]
    return [
        Figure(f"peak RSS, {small['messages']:,}-message mailbox", small["maxRssKiB"] / 1024, "MiB"),
        Figure(f"peak RSS, {large['messages']:,}-message mailbox", large["maxRssKiB"] / 1024, "MiB"),
        Figure(
            "peak RSS ratio, 50k vs 5k mailbox (flat memory)", ratio, "x", FLAT_RATIO, "<=",
            detail=f"{large['messages'] / small['messages']:.1f}x the messages",
        ),
    ]  # fmt: skip
