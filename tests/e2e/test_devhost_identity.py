"""`make serve` without AUTH_* settings signs people in through its development identity provider, and the
app trusts the tokens; with AUTH_* settings it starts none. Each test serves the app from a temporary folder
on a free port, against the session's Azurite (so `--no-azurite`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from devhost.azurite import ROOT, free_port
from functions.domain.access import CONSENT_MANAGE
from tests.conftest import CONTACT_HASH_KEY, WEBHOOK_SECRET

pytestmark = pytest.mark.e2e

READY = "Host started on"
SIGN_IN = re.compile(r"development sign-in \(loopback only\) at (http://\S+)")
AUTH_SETTINGS = ("AUTH_JWKS_URL", "AUTH_AUDIENCE", "AUTH_ISSUER")


class Serving:
    """`python -m devhost serve` in a process group of its own, with `local.settings.json` as given."""

    def __init__(self, script_root: Path, connection_string: str) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = script_root / "serve.log"
        # The settings under test come from local.settings.json alone, never from this shell.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH_", "CONSOLE_"))}
        env |= {"PYTHONPATH": str(ROOT), "DEVHOST_TIMERS": "off", "AzureWebJobsStorage": connection_string}
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "devhost", "serve", "--no-azurite", "--port", str(port),
                 "--script-root", str(script_root)],
                cwd=script_root, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while READY not in self.log_text():
            assert self.process.poll() is None, self.log_text()
            assert time.monotonic() < deadline, "the host did not start within 60 s"
            time.sleep(0.1)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


ServeFactory = Callable[..., Serving]


@pytest.fixture
def serve(tmp_path: Path, storage_connection_string: str) -> Iterator[ServeFactory]:
    """Serve the app with the example's settings, less those named in `without`, plus `given`."""
    started: list[Serving] = []

    def factory(without: tuple[str, ...] = (), **given: str) -> Serving:
        for name in ("host.json", "function_app.py"):
            shutil.copy(ROOT / name, tmp_path / name)
        document = json.loads((ROOT / "local.settings.example.json").read_text(encoding="utf-8"))
        values = {k: v for k, v in document["Values"].items() if k not in without}
        values |= {
            "ADMIN_CENTER_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "CONTACT_HASH_KEY": CONTACT_HASH_KEY,
        } | given
        (tmp_path / "local.settings.json").write_text(json.dumps({**document, "Values": values}))
        serving = Serving(tmp_path, storage_connection_string)
        started.append(serving)
        return serving

    yield factory
    for serving in started:
        serving.stop()


def test_serve_with_the_example_settings_signs_in_through_the_dev_provider_and_the_app_trusts_it(
    serve: ServeFactory, tenant_id: str
) -> None:
    serving = serve()  # the example leaves every AUTH_* setting empty
    found = SIGN_IN.search(serving.log_text())
    assert found, serving.log_text()
    route = f"{serving.url}/api/tenants/{tenant_id}/consent"
    assert httpx.get(route, timeout=30).status_code == 401

    signed_in = httpx.post(
        found.group(1),
        data={"redirect_uri": f"{serving.url}/api/console/", "state": "s", "tenant": tenant_id,
              "user": str(uuid.uuid4()), "name": "Ada", "roles": [CONSENT_MANAGE]},
        timeout=30,
    )  # fmt: skip
    assert signed_in.status_code == 303, signed_in.text
    token = parse_qs(urlsplit(signed_in.headers["location"]).fragment)["access_token"][0]

    answer = httpx.get(route, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 200, answer.text


def test_serve_without_auth_settings_at_all_starts_the_dev_provider_too(serve: ServeFactory) -> None:
    assert SIGN_IN.search(serve(without=AUTH_SETTINGS).log_text())


def test_serve_with_auth_settings_starts_no_dev_provider(serve: ServeFactory) -> None:
    serving = serve(
        AUTH_JWKS_URL="https://login.microsoftonline.com/common/discovery/v2.0/keys",
        AUTH_AUDIENCE="api://m365-consent-insights",
        AUTH_ISSUER="https://login.microsoftonline.com/{tenantId}/v2.0",
    )

    assert "development sign-in" not in serving.log_text()
