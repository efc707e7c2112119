"""End-to-end ingestion of this checkout against an earlier commit, on the same tenant, machine and hour.

    python -m bench.against REV [--users 100] [--messages-per-month 84] [--contacts 5000] [--threads 16]
                                [--repeats 1]

Figures taken on different days of a shared machine differ by more than the changes they compare (the
emulator's own ceiling has ranged from 2,900 to 10,200 entities/s here), so a before/after figure is only
meaningful with both measured together. This checks REV out into a temporary worktree and runs the same
backfill through its worker and through this checkout's (working tree included), alternately, each with a
fresh simulator and a fresh Azurite, and prints msg/s for each run, the medians and their ratio. The issue's
own 8-user benchmark was `--users 8 --messages-per-month 40 --contacts 200 --threads 6` at 83b6f3f.

Each run also says what the emulator spent per message, besides the worker: the two share this machine's
cores. It is the emulator's CPU over the whole probe (the tenant's setup included, the same for both), since
the probe of an older checkout can report only its own.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench.framework import Context
from bench.ingest import MEETINGS_PER_USER_PER_MONTH, WORKER_ENV
from bench.memory import TOKEN, start_simulator, stop

HERE = Path(__file__).resolve().parent.parent
PROBE = Path(__file__).resolve().parent / "code_probe.py"


def backfill(checkout: Path, args: argparse.Namespace) -> dict[str, Any]:
    ctx = Context()
    try:
        sim = start_simulator(
            ctx,
            [
                "--users", str(args.users), "--messages-per-month", str(args.messages_per_month),
                "--meetings-per-month", str(MEETINGS_PER_USER_PER_MONTH), "--contacts", str(args.contacts),
            ],
        )  # fmt: skip
        try:
            now = httpx.get(sim["url"] + "/_sim/tenant", timeout=30).json()["now"]
            command = [
                sys.executable, str(PROBE), str(checkout), ctx.azurite().connection_string, sim["graphUrl"],
                TOKEN, now, str(args.threads),
            ]  # fmt: skip
            emulator = ctx.azurite().cpu_seconds()
            done = subprocess.run(
                command, capture_output=True, text=True, check=False, cwd=checkout,
                env={**os.environ, **WORKER_ENV, "PYTHONPATH": str(checkout)},
            )  # fmt: skip
            after = ctx.azurite().cpu_seconds()
        finally:
            stop(sim["process"])
        if done.returncode != 0:
            raise RuntimeError(f"the backfill through {checkout} failed:\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        if emulator is not None and after is not None:
            result["emulatorCpuSeconds"] = after - emulator
        return result
    finally:
        ctx.cleanup()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.against", description=__doc__.split("\n")[0])
    parser.add_argument("rev", help="the earlier commit (any git revision)")
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--messages-per-month", type=int, default=84)
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=16, help="windows at once (host.json batchSize: 16)")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-against-") as scratch:
        earlier = Path(scratch) / "checkout"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-q", str(earlier), args.rev], cwd=HERE, check=True
        )
        try:
            rates: dict[str, list[float]] = {args.rev: [], "this checkout": []}
            for attempt in range(1, args.repeats + 1):
                for label, checkout in ((args.rev, earlier), ("this checkout", HERE)):
                    r = backfill(checkout, args)
                    rates[label].append(r["messages"] / r["seconds"])
                    emulator = r.get("emulatorCpuSeconds")
                    also = "" if emulator is None else f", emulator {1000 * emulator / r['messages']:.2f} ms"
                    print(
                        f"run {attempt}, {label}: {r['succeeded']}/{r['windows']} windows, {r['messages']:,} "
                        f"messages in {r['seconds']:.1f} s = {rates[label][-1]:,.0f} msg/s; worker CPU "
                        f"{1000 * r['cpuSeconds'] / r['messages']:.2f} ms per message{also}",
                        flush=True,
                    )
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(earlier)], cwd=HERE, check=False)
    medians = {label: statistics.median(values) for label, values in rates.items()}
    for label, median in medians.items():
        print(f"{label}: median {median:,.0f} msg/s")
    print(f"this checkout / {args.rev}: {medians['this checkout'] / medians[args.rev]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
