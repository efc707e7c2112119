"""`python -m demo` (`make demo`): the life of a tenant, chapter by chapter, against a local app.

Add a chapter as a module with `TITLE` and `run(ctx)` (see demo/framework.py) and list it in `CHAPTERS`;
add a function to `PREPARE` to start a service before the app (and pass its settings with
`ctx.add_host_env(...)`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType

from demo import (
    chapter_consent,
    chapter_ingestion,
    chapter_legacy,
    chapter_notifications,
    chapter_purge,
    console,
    foundation,
)
from demo.framework import Context, run_demo

# Run before the app starts, in order; each may start a process and register its cleanup.
PREPARE: tuple[Callable[[Context], None], ...] = (chapter_consent.prepare, chapter_ingestion.prepare)

CHAPTERS: tuple[ModuleType, ...] = (
    foundation,
    chapter_consent,
    chapter_ingestion,
    chapter_notifications,
    chapter_purge,
    chapter_legacy,
)

if __name__ == "__main__":
    sys.exit(run_demo(CHAPTERS, PREPARE, epilogue=(console.offer,)))
