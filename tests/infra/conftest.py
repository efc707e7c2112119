"""checkov, run once per session from its own virtual environment (`make test` installs it)."""

from __future__ import annotations

import pytest

from tests.infra.checkov import CHECKOV, CheckovRun, run_checkov


@pytest.fixture(scope="session")
def checkov() -> CheckovRun:
    if not CHECKOV.exists():
        # Failing, not skipping: a skipped security scan would pass CI unnoticed.
        pytest.fail(f"{CHECKOV} is missing: run `make test` (it installs .venv-checkov) or `make checkov`")
    return run_checkov()
