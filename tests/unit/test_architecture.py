"""The layers hold: the import contracts of pyproject.toml (`[tool.importlinter]`) are kept, and a planted
violation of each kind is caught (so the contracts cannot pass by checking nothing)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from devhost.azurite import ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


def test_the_import_contracts_are_kept() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "contract"),
    [
        ("domain/scope.py", "import functions.adapters.storage", "the domain is pure"),
        ("services/backup.py", "import functions.adapters.slice_store", "services import the domain"),
        ("adapters/slice_store.py", "import functions.services.ingestion", "adapters implement ports"),
        ("services/ports/queues.py", "import functions.services.purge", "the ports are interfaces"),
        ("bootstrap.py", "import functions.entrypoints.http", "nothing imports the entry points"),
    ],
    ids=["domain-imports-an-adapter", "service-imports-an-adapter", "adapter-imports-a-service",
         "port-imports-a-service", "root-imports-an-entry-point"],
)  # fmt: skip
def test_a_planted_import_across_the_layers_breaks_its_contract(
    tmp_path: Path, module: str, planted: str, contract: str
) -> None:
    shutil.copytree(ROOT / "functions", tmp_path / "functions", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "functions" / module
    target.write_text(target.read_text() + f"\n{planted}  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert f"{contract}" in result.stdout
    assert "BROKEN" in result.stdout


def test_the_contracts_that_name_service_modules_name_every_one_of_them() -> None:
    """Ports and adapters may not import any service; the contracts list services by name, so a new service
    module must join the lists or it would be importable from below unnoticed."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    services = {
        f"functions.services.{path.stem}"
        for path in (ROOT / "functions" / "services").glob("*.py")
        if path.stem != "__init__"
    }
    for contract in config["tool"]["importlinter"]["contracts"]:
        if contract["source_modules"] in (["functions.services.ports"], ["functions.adapters"]):
            missing = services - set(contract["forbidden_modules"])
            assert not missing, f"{contract['name']!r} does not forbid {sorted(missing)}"
