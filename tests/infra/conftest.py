"""checkov, run once per session from its own virtual environment (`make test` installs it)."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from typing import Any

import pytest

from tests.infra.bicep import INFRA, ROOT

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
# The same arguments as `make checkov`: offline, Bicep only.
CHECKOV_ARGS = ["-d", str(INFRA), "--framework", "bicep", "--skip-download", "-o", "json"]


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


@pytest.fixture(scope="session")
def checkov() -> CheckovRun:
    if not CHECKOV.exists():
        # Failing, not skipping: a skipped security scan would pass CI unnoticed.
        pytest.fail(f"{CHECKOV} is missing: run `make test` (it installs .venv-checkov) or `make checkov`")
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
    # Exit status 1 means failed checks, which the tests report one by one; anything else is a crash.
    assert result.returncode in (0, 1), result.stderr[-4000:]
    return CheckovRun(report=json.loads(result.stdout), log=result.stderr)
