"""Import legacy consent records (the two old admin-center forms) for tenants moving to this app.

    python tools/import_legacy.py records.csv            # or: python -m tools.import_legacy records.json
    python tools/import_legacy.py records.csv --dry-run  # validate only

A record is `tenantId`, `feature` (relationship_analytics | who_knows_whom), `grantedAt`, optional
`expiresAt` (default: LEGACY_RELATIONSHIP_ANALYTICS_EXPIRES_AT / LEGACY_WHO_KNOWS_WHOM_EXPIRES_AT) and
optional `optedOutGroupIds`. Files: CSV with a header row (group IDs separated by `;` inside their cell),
JSON (an array of objects) or JSON Lines (`.jsonl`, one object per line); `--format` overrides the
file name's extension.

Every row is validated first; if any is bad, every problem is printed with its line number and nothing is
imported (exit 1). Otherwise each record goes through the same rules as the admin-center webhook (a record
of a tenant that has granted is superseded at once and its groups migrated), and a summary is printed.
Re-running the same file changes nothing. Storage is the app's: `AzureWebJobsStorage` (or the
`AzureWebJobsStorage__*` identity settings) and the legacy expiry settings, from the environment or else
from `local.settings.json` (`--settings` to name another file).

Exit codes: 0 imported (or valid, with --dry-run); 1 bad rows, nothing imported; 2 unreadable file or
settings; 3 storage failed part-way (re-run the same file: rows already imported are skipped).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TextIO

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script (`python tools/import_legacy.py`) from any directory
    sys.path.insert(0, str(ROOT))

from devhost.config import StartupError  # noqa: E402
from devhost.local_settings import SETTINGS_FILE, read_values  # noqa: E402
from functions.bootstrap import Container, utc_now  # noqa: E402
from functions.domain.errors import AppError  # noqa: E402
from functions.domain.legacy import (  # noqa: E402
    IMPORT_FORMATS,
    ImportFileInvalid,
    ImportFormat,
    LegacyRow,
    format_of,
    read_rows,
    validate_rows,
)
from functions.services.legacy import LegacyService  # noqa: E402
from functions.settings import Settings  # noqa: E402

EXIT_OK, EXIT_BAD_ROWS, EXIT_UNREADABLE, EXIT_STORAGE = 0, 1, 2, 3


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="import_legacy", description="Import legacy consent records from a CSV, JSON or JSON Lines file."
    )
    parser.add_argument("file", type=Path, help="the records: .csv, .json or .jsonl")
    parser.add_argument("--format", choices=IMPORT_FORMATS, help="override the format the extension suggests")
    parser.add_argument("--dry-run", action="store_true", help="validate every row, import nothing")
    parser.add_argument(
        "--settings", type=Path, default=ROOT / SETTINGS_FILE, help="local.settings.json to read (if present)"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    return parser.parse_args(argv)


def app_settings(environ: Mapping[str, str], settings_file: Path) -> Settings:
    """The app's settings as the host would see them: the environment wins over local.settings.json."""
    values = read_values(settings_file) if settings_file.is_file() else {}
    return Settings.from_env({**values, **environ})


class _Stop(Exception):
    """Ends the command with an exit code after its message has been printed."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    clock: Callable[[], datetime] = utc_now,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    args = _arguments(argv)
    try:
        service, rows, now = _validated(args, os.environ if environ is None else environ, clock, err)
    except _Stop as stop:
        return stop.code
    if args.dry_run:
        tenants = len({r.tenant_id for r in rows})
        valid = f"{_count(len(rows), 'valid record')} for {_count(tenants, 'tenant')}"
        print(f"{args.file}: {valid}; nothing imported (dry run)", file=out)
        return EXIT_OK
    try:
        summary = service.import_rows(rows, now)
    except AppError as error:
        print(f"storage failed part-way: {error}; re-run the same file to finish (it is safe)", file=err)
        return EXIT_STORAGE
    counts = summary.counts()
    if args.json:
        print(json.dumps(counts, sort_keys=True), file=out)
        return EXIT_OK
    print(
        f"{args.file}: {_count(counts['rows'], 'record')} for {_count(counts['tenants'], 'tenant')}", file=out
    )
    print(
        f"  imported {counts['imported']} (superseded on arrival, tenant already granted: "
        f"{counts['supersededOnArrival']}), already imported {counts['alreadyImported']}, "
        f"unchanged {counts['unchanged']}, stale {counts['stale']}",
        file=out,
    )
    return EXIT_OK


def _validated(
    args: argparse.Namespace, environ: Mapping[str, str], clock: Callable[[], datetime], err: TextIO
) -> tuple[LegacyService, list[LegacyRow], datetime]:
    """The service, and every row of the file valid; `_Stop` after printing why not."""
    file_format: ImportFormat | None = args.format or format_of(args.file.name)
    if file_format is None:
        print(f"{args.file}: unknown format; name it .csv, .json or .jsonl, or pass --format", file=err)
        raise _Stop(EXIT_UNREADABLE)
    try:
        text = args.file.read_text(encoding="utf-8")
        settings = app_settings(environ, args.settings)
    except (OSError, UnicodeDecodeError, StartupError, AppError) as error:
        print(f"cannot start the import: {error}", file=err)
        raise _Stop(EXIT_UNREADABLE) from None
    container = Container(settings, clock=clock)
    service = container.legacy_service
    now = container.now()
    try:
        raw = read_rows(text, file_format)
    except ImportFileInvalid as error:
        raise _Stop(_refuse(args.file, error.problems, err)) from None
    rows, problems = validate_rows(raw, service.default_expiry, now)
    if problems:
        raise _Stop(_refuse(args.file, problems, err))
    return service, rows, now


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _refuse(file: Path, problems: Sequence[object], err: TextIO) -> int:
    print(f"{file}: {len(problems)} problem(s); nothing was imported", file=err)
    for problem in problems:
        print(f"  {problem}", file=err)
    return EXIT_BAD_ROWS


if __name__ == "__main__":
    sys.exit(main())
