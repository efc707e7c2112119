"""checkov over infra/, run from its own virtual environment (the Makefile installs .venv-checkov).

checkov drops a Bicep file it cannot parse from the scan without failing, so a run is only as good as the list
of files it read: its INFO log says how many it found and how many it parsed, and `files` lists what each file
got. tests/infra/conftest.py runs it once per session; `python -m tests.infra.checkov` prints the same run per
file (`make deploy-check`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Any

from tests.infra.bicep import INFRA, ROOT, bicep_files

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
# The same arguments as `make checkov`: offline, Bicep only.
CHECKOV_ARGS = ["-d", str(INFRA), "--framework", "bicep", "--skip-download", "-o", "json"]
OUTCOMES = ("passed", "failed", "skipped")


@dataclass(frozen=True)
class CheckovRun:
    report: dict[str, Any]  # checkov's JSON report
    log: str  # its INFO log (stderr): says how many files it found and how many it parsed

    @property
    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = self.report["summary"]
        return summary

    def checks(self, kind: str) -> list[dict[str, Any]]:
        checks: list[dict[str, Any]] = self.report["results"].get(f"{kind}_checks", [])
        return checks

    def file_counts(self) -> tuple[int, int]:
        """How many Bicep files checkov found, and how many of them it parsed."""
        found = re.search(r"\[bicep\] start to parse (\d+) files", self.log)
        parsed = re.search(r"\[bicep\] successfully parsed (\d+) files", self.log)
        assert found, "checkov's log no longer says how many files it found"
        assert parsed, "checkov's log no longer says how many files it parsed"
        return int(found.group(1)), int(parsed.group(1))

    def by_file(self) -> dict[str, Counter[str]]:
        """Every Bicep file under infra/ with the number of checks it passed, failed and skipped."""
        counts: dict[str, Counter[str]] = {
            path.relative_to(INFRA).as_posix(): Counter() for path in bicep_files()
        }
        for outcome in OUTCOMES:
            for check in self.checks(outcome):
                counts.setdefault(check["file_path"].lstrip("/"), Counter())[outcome] += 1
        return counts


def run_checkov() -> CheckovRun:
    if not CHECKOV.exists():
        raise FileNotFoundError(f"{CHECKOV} is missing: run `make test` (it installs .venv-checkov)")
    env = {**os.environ, "LOG_LEVEL": "INFO"}
    result = subprocess.run(
        [str(CHECKOV), *CHECKOV_ARGS],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    # Exit status 1 means failed checks, which the callers report one by one; anything else is a crash.
    if result.returncode not in (0, 1):
        raise RuntimeError(f"checkov crashed ({result.returncode}):\n{result.stderr[-4000:]}")
    return CheckovRun(report=json.loads(result.stdout), log=result.stderr)


def main() -> int:
    run = run_checkov()
    found, parsed = run.file_counts()
    for file, counts in run.by_file().items():
        shown = ", ".join(f"{counts[o]} {o}" for o in OUTCOMES) if counts else "parsed, no check applies"
        print(f"checkov: infra/{file}: {shown}")
    summary = run.summary
    print(
        f"checkov: {parsed} of {found} Bicep files parsed ({len(bicep_files())} under infra/); "
        f"{summary['passed']} passed, {summary['failed']} failed, {summary['skipped']} skipped"
    )
    for check in run.checks("failed"):
        print(f"    FAILED {check['check_id']} {check['resource']} ({check['file_path']})")
    complete = found == parsed == len(bicep_files())
    return 0 if complete and summary["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
