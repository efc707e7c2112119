"""requirements.txt (what Azure's remote build installs) lists exactly pyproject.toml's runtime pins."""

from __future__ import annotations

import tomllib

from devhost.azurite import ROOT
from tools.requirements import render


def test_requirements_txt_is_what_tools_requirements_renders() -> None:
    assert (ROOT / "requirements.txt").read_text(encoding="utf-8") == render(), "run `make requirements`"


def test_every_runtime_dependency_is_pinned_exactly() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "dependencies"
    ]
    assert dependencies
    assert all("==" in dependency for dependency in dependencies), dependencies


def test_the_functions_worker_is_not_a_dependency() -> None:
    # The platform provides the worker; deploying it breaks the app.
    assert "azure-functions-worker" not in render()
