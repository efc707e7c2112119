"""What the ingestion benchmark says this machine's CPU allows (bench/ingest.py `machine_budget`): the worker
and the emulator each take at most a core, the three processes together at most every core, and the lowest of
those bounds is the one named."""

from __future__ import annotations

import pytest

from bench.ingest import machine_budget


def run(worker: float, emulator: float, simulator: float, messages: int = 1_000) -> dict[str, object]:
    """A probe result whose processes spent these CPU seconds on `messages` messages."""
    return {
        "messages": messages,
        "cpuSeconds": worker,
        "otherCpuSeconds": {"emulator": emulator, "simulator": simulator},
    }


def test_the_cores_bound_when_the_three_processes_together_need_more_than_every_core() -> None:
    budget = machine_budget(run(worker=0.8, emulator=0.8, simulator=0.4), cores=2)
    assert budget is not None
    assert budget["total"] == pytest.approx(0.002)
    assert budget["allows"] == pytest.approx(1_000)  # 2 cores / 2 ms per message
    assert budget["bound"] == "2 cores for all three"


def test_one_process_bounds_when_it_alone_needs_more_than_a_core() -> None:
    budget = machine_budget(run(worker=0.5, emulator=1.25, simulator=0.05), cores=2)
    assert budget is not None
    assert budget["allows"] == pytest.approx(800)  # the emulator serves on one thread: 1 / 1.25 ms
    assert budget["bound"] == "the emulator's one thread"


def test_the_worker_bounds_when_its_interpreter_is_the_busiest() -> None:
    budget = machine_budget(run(worker=0.9, emulator=0.6, simulator=0.05), cores=4)
    assert budget is not None
    assert budget["allows"] == pytest.approx(1_000 / 0.9)
    assert budget["bound"] == "the worker's one interpreter"


def test_nothing_is_claimed_when_the_other_processes_could_not_be_measured() -> None:
    result = run(worker=0.9, emulator=0.6, simulator=0.05)
    result["otherCpuSeconds"] = {"emulator": 0.6}  # the simulator's /proc entry could not be read
    assert machine_budget(result, cores=2) is None
