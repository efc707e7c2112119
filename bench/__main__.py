"""`python -m bench` (`make bench`): every figure of SPEC section 5 that this app measures, in one run.

Add a benchmark as a module with `TITLE` and `run(ctx) -> list[Figure]` (see bench/framework.py) and list it
in `BENCHMARKS`. `python -m bench parse reads` runs only the named modules.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

from bench.framework import run_benchmarks

BENCHMARKS: tuple[str, ...] = ("parse", "memory", "ingest", "reads", "purge", "group_optout", "freshness")


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    modules: list[ModuleType] = [importlib.import_module(f"bench.{name}") for name in names]
    return run_benchmarks(modules)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
