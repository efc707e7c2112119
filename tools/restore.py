"""Restore a tenant's backup of one day, then re-apply every purge recorded since.

    python tools/restore.py --tenant <tenantId> --day 2026-11-20      # or: python -m tools.restore ...

Reads `backups/{tenantId}/*/{day}.jsonl`, writes the records back to the slices and the contact index, then
re-applies (deletes and verifies again) every purge of the tenant requested on or after that day or not yet
completed then, so that nobody who opted out and no tenant that withdrew comes back (functions/services/
restore.py). Storage is the app's: `AzureWebJobsStorage` (or the `AzureWebJobsStorage__*` identity settings)
from the environment or else from `local.settings.json` (`--settings` to name another file).

Exit codes: 0 restored; 2 bad arguments or settings; 3 storage failed part-way (run it again: writes are
upserts and purges are idempotent); 4 a re-applied purge could not verify zero (run it again).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TextIO

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script (`python tools/restore.py`) from any directory
    sys.path.insert(0, str(ROOT))

from devhost.local_settings import SETTINGS_FILE, read_values  # noqa: E402
from functions.bootstrap import Container, utc_now  # noqa: E402
from functions.domain.access import is_guid  # noqa: E402
from functions.domain.errors import AppError, ConfigurationError, StorageError  # noqa: E402
from functions.services.purge import PurgeIncomplete  # noqa: E402
from functions.settings import Settings  # noqa: E402

EXIT_OK, EXIT_USAGE, EXIT_STORAGE, EXIT_PURGE = 0, 2, 3, 4


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="restore", description=__doc__.splitlines()[0])
    parser.add_argument("--tenant", required=True, help="the Entra tenant ID (a GUID)")
    parser.add_argument("--day", required=True, type=date.fromisoformat, help="the backup's day, YYYY-MM-DD")
    parser.add_argument(
        "--settings", type=Path, default=ROOT / SETTINGS_FILE, help="local.settings.json to read (if present)"
    )
    return parser.parse_args(argv)


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    clock: Callable[[], datetime] = utc_now,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    args = _arguments(argv)
    if not is_guid(args.tenant):
        print(f"--tenant must be a tenant ID (a GUID), not {args.tenant!r}", file=err)
        return EXIT_USAGE
    environment = os.environ if environ is None else environ
    try:
        values = read_values(args.settings) if args.settings.is_file() else {}
        container = Container(Settings.from_env({**values, **environment}), clock=clock)
    except (ConfigurationError, ValueError, OSError) as error:
        print(f"cannot read the settings: {error}", file=err)
        return EXIT_USAGE
    try:
        report = container.restore_service.restore(args.tenant, args.day, clock())
    except PurgeIncomplete as error:
        print(f"restored, but a re-applied purge did not verify zero: {error}; run it again", file=err)
        return EXIT_PURGE
    except (StorageError, AppError) as error:
        print(f"storage failed part-way: {error}; run it again", file=err)
        return EXIT_STORAGE
    deleted = sum(report.deleted_again.values())
    day = report.day.isoformat()
    print(
        f"restored {report.records} records of {report.users} users from the backup of {day} "
        f"(skipped {report.skipped} users not included now); "
        f"re-applied {len(report.reapplied)} purges, which deleted {deleted} items again",
        file=out,
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
