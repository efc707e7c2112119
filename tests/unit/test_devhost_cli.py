"""`python -m devhost`: a configuration the Functions host would refuse stops start-up, saying why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import azure.functions as func
import pytest

from devhost.azurite import ROOT
from tests.conftest import base_env


def bad_schedule_app() -> func.FunctionApp:
    app = func.FunctionApp()

    @app.timer_trigger(schedule="%NIGHTLY%", arg_name="timer")
    def nightly(timer: func.TimerRequest) -> None:
        return None

    return app


def devhost(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "NIGHTLY"} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "devhost", *args],
        cwd=cwd, env=environment | {"PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip


APP = "tests.unit.test_devhost_cli:bad_schedule_app"


def test_a_missing_schedule_setting_stops_start_up_naming_the_setting() -> None:
    result = devhost("run", "--port", "0", "--app", APP, "--script-root", str(ROOT))
    assert result.returncode == 2
    assert "NIGHTLY" in result.stderr
    assert "'nightly'" in result.stderr


def test_a_malformed_ncrontab_stops_start_up_quoting_it() -> None:
    result = devhost(
        "run", "--port", "0", "--app", APP, "--script-root", str(ROOT), env={"NIGHTLY": "0 0 2 * *"}
    )
    assert result.returncode == 2
    assert "'0 0 2 * *' is not a six-field NCRONTAB expression" in result.stderr


def test_settings_json_fills_in_what_the_environment_lacks() -> None:
    result = devhost(
        "run", "--port", "0", "--app", APP, "--script-root", str(ROOT),
        "--settings-json", json.dumps({"NIGHTLY": "every night"}),
    )  # fmt: skip
    assert result.returncode == 2
    assert "'every night'" in result.stderr


def test_serve_writes_local_settings_from_the_example_before_reading_it(tmp_path: Path) -> None:
    example = {"IsEncrypted": False, "Values": {"NIGHTLY": "not a schedule"}}
    (tmp_path / "local.settings.example.json").write_text(json.dumps(example), encoding="utf-8")
    result = devhost("serve", "--no-azurite", "--port", "0", "--app", APP, "--script-root", str(tmp_path))
    written = json.loads((tmp_path / "local.settings.json").read_text(encoding="utf-8"))
    assert written["Values"]["ADMIN_CENTER_WEBHOOK_SECRET"].startswith("whsec_")
    # The file's value reached the host: its schedule is the one refused.
    assert result.returncode == 2
    assert "'not a schedule'" in result.stderr


def test_an_app_reference_that_is_not_a_function_app_is_refused() -> None:
    result = devhost("run", "--port", "0", "--app", "devhost.azurite:ROOT", "--script-root", str(ROOT))
    assert result.returncode == 2
    assert "devhost.azurite:ROOT" in result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CONTACT_HASH_KEY", "too-short"),
        (
            "ADMIN_CENTER_WEBHOOK_SECRET",
            "@Microsoft.KeyVault(SecretUri=https://v.vault.azure.net/secrets/s/)",
        ),
    ],
    ids=["short-contact-hash-key", "unresolved-key-vault-reference"],
)
def test_the_app_refuses_to_start_with_an_unsafe_secret_naming_the_setting(name: str, value: str) -> None:
    env = base_env("UseDevelopmentStorage=true") | {name: value}
    result = devhost("run", "--port", "0", "--script-root", str(ROOT), env=env)
    assert result.returncode == 2
    assert name in result.stderr
    assert "Host started" not in result.stdout
