"""tools/smoke.py run against the app in the local host: the checks a deployment gets after `azd up`, proven
here on the same app, as a subprocess exactly as an operator runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devhost.azurite import free_port
from functions.adapters.storage import StorageClients
from tests.conftest import WEBHOOK_SECRET
from tests.support.apphost import AppHost

pytestmark = pytest.mark.e2e

SMOKE = Path(__file__).resolve().parents[2] / "tools" / "smoke.py"
OTHER_SECRET = "whsec_" + "b3RoZXItc2VjcmV0LW5vdC1vdXJzLTAxMjM0NTY3ODk="
CHECKS = 6


def smoke(*args: str, secret_in_environment: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ADMIN_CENTER_WEBHOOK_SECRET"}
    if secret_in_environment is not None:
        env["ADMIN_CENTER_WEBHOOK_SECRET"] = secret_in_environment
    return subprocess.run(
        [sys.executable, str(SMOKE), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_smoke_passes_against_the_running_app_with_its_webhook_secret(app_host: AppHost) -> None:
    result = smoke("--base-url", app_host.url, "--webhook-secret", WEBHOOK_SECRET)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        f"smoke {app_host.url}",
        "  ok    GET /api/health: 200 healthy (storage: tables, queues, blobs)",
        result.stdout.splitlines()[2],  # the OpenAPI line counts the paths, checked below
        (
            "  ok    POST /api/webhooks/admin-center signed with the given secret: 400: signature accepted, "
            "the smoke event refused by design (field: type)"
        ),
        "  ok    POST /api/webhooks/admin-center signed with another secret: 401",
        "  ok    GET /api/tenants/00000000-0000-0000-0000-000000000000/consent without a token: 401",
        (
            "  ok    GET /api/tenants/00000000-0000-0000-0000-000000000000/consent with a token that is not "
            "Entra's: 401"
        ),
        f"{CHECKS} of {CHECKS} checks passed",
    ]
    assert result.stdout.splitlines()[2].startswith("  ok    GET /api/openapi.json: OpenAPI 3.1.0, ")


def test_smoke_takes_the_api_url_and_the_first_of_rotating_secrets_from_the_environment(
    app_host: AppHost,
) -> None:
    result = smoke(
        "--base-url", f"{app_host.url}/api/", secret_in_environment=f"{WEBHOOK_SECRET} {OTHER_SECRET}"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == f"smoke {app_host.url}"


def test_smoke_fails_when_the_deployed_webhook_secret_is_another_one(app_host: AppHost) -> None:
    result = smoke("--base-url", app_host.url, "--webhook-secret", OTHER_SECRET)
    assert result.returncode == 1
    assert (
        "  FAIL  POST /api/webhooks/admin-center signed with the given secret: 401: the deployed "
        "ADMIN_CENTER_WEBHOOK_SECRET is not the one given"
    ) in result.stdout.splitlines()
    assert result.stdout.splitlines()[-1] == f"{CHECKS - 1} of {CHECKS} checks passed"


def test_smoke_leaves_nothing_behind_in_the_app(app_host: AppHost, storage_clients: StorageClients) -> None:
    assert smoke("--base-url", app_host.url, "--webhook-secret", WEBHOOK_SECRET).returncode == 0
    receipts = storage_clients.table("webhookreceipts").list_entities(select=["PartitionKey"])
    assert not [r["PartitionKey"] for r in receipts if "smoke" in r["PartitionKey"]]
    assert app_host.wait_for_queues_idle(timeout=10)["idle"]


def test_smoke_reports_an_app_that_does_not_answer() -> None:
    result = smoke(
        "--base-url", f"http://127.0.0.1:{free_port()}", "--webhook-secret", WEBHOOK_SECRET, "--wait", "1"
    )
    assert result.returncode == 1
    assert result.stdout.splitlines()[1].startswith("  FAIL  GET /api/health: no answer (ConnectError")
    assert result.stdout.splitlines()[-1] == "0 of 1 checks passed"


def test_smoke_refuses_a_malformed_secret_before_sending_anything() -> None:
    result = smoke("--base-url", "http://127.0.0.1:9", "--webhook-secret", "not-a-secret")
    assert result.returncode == 2
    assert "must start with 'whsec_'" in result.stderr
    assert result.stdout == ""
