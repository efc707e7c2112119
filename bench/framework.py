"""What every benchmark module gets, and the table and JSON they end in.

A benchmark is a module with `TITLE` and `run(ctx) -> list[Figure]`, listed in `bench/__main__.py`
(`BENCHMARKS`). `ctx.azurite()` starts one Azurite for the whole run on first use (in memory, free ports);
`ctx.add_cleanup` registers anything else to stop. Figures are measured, never assumed: a `target` with a
comparison says whether the figure met it.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from devhost.azurite import Azurite

RESULTS = Path(__file__).resolve().parent / "results"
Comparison = Literal[">=", "<="]


@dataclass(frozen=True, slots=True)
class Figure:
    name: str
    value: float
    unit: str
    target: float | None = None
    comparison: Comparison = ">="
    detail: str = ""

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.value >= self.target if self.comparison == ">=" else self.value <= self.target

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.met}


class Context:
    def __init__(self, out: Any = sys.stdout) -> None:
        self.out = out
        self._azurite: Azurite | None = None
        self._cleanups: list[Callable[[], object]] = []

    def say(self, text: str) -> None:
        print(f"   {text}", file=self.out, flush=True)

    def azurite(self) -> Azurite:
        if self._azurite is None:
            azurite = Azurite()
            self.add_cleanup(azurite.cleanup)
            azurite.start()
            self._azurite = azurite
        return self._azurite

    def add_cleanup(self, cleanup: Callable[[], object]) -> None:
        self._cleanups.append(cleanup)

    def cleanup(self) -> None:
        while self._cleanups:
            try:
                self._cleanups.pop()()
            except Exception as error:  # noqa: BLE001  (one failed cleanup must not skip the others)
                print(f"   could not stop cleanly: {error}", file=self.out)


def run_benchmarks(modules: list[ModuleType], out: Any = sys.stdout) -> int:
    ctx = Context(out)
    results: dict[str, list[dict[str, Any]]] = {}
    started = time.monotonic()
    failed = False
    try:
        for module in modules:
            print(f"\n== {module.TITLE}", file=out, flush=True)
            figures: list[Figure] = module.run(ctx)
            results[module.__name__.rsplit(".", 1)[-1]] = [f.as_dict() for f in figures]
            failed |= any(f.met is False for f in figures)
    finally:
        ctx.cleanup()
    _table(results, out)
    path = _write(results, time.monotonic() - started)
    print(f"\nJSON: {path} (and {RESULTS / 'latest.json'}); {time.monotonic() - started:.0f} s", file=out)
    return 1 if failed else 0


def _table(results: dict[str, list[dict[str, Any]]], out: Any) -> None:
    print(f"\n{'figure':<58} {'value':>12} {'unit':<10} {'target':>12}  met", file=out)
    for figures in results.values():
        for f in figures:
            target = (
                ""
                if f["target"] is None
                else f"{f['comparison']} {f['target']:,.{0 if f['target'] >= 100 else 2}f}"
            )
            met = {True: "yes", False: "NO", None: ""}[f["met"]]
            print(f"{f['name']:<58} {f['value']:>12,.2f} {f['unit']:<10} {target:>12}  {met}", file=out)


def _write(results: dict[str, list[dict[str, Any]]], seconds: float) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC)
    document = {
        "at": stamp.isoformat(),
        "seconds": round(seconds, 1),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "results": results,
    }
    text = json.dumps(document, indent=2)
    path = RESULTS / f"bench-{stamp:%Y%m%dT%H%M%SZ}.json"
    path.write_text(text, encoding="utf-8")
    (RESULTS / "latest.json").write_text(text, encoding="utf-8")
    return path
