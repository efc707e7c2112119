"""The local host as a subprocess, with a small HTTP client: what the e2e tests and the demo start.

    with HostProcess(env={...}) as host:          # a free port; waits for GET /api/health
        host.get("/api/health")
        host.fire("maintenance")                  # POST /admin/functions/maintenance?wait=true
        host.wait_for_queues_idle(timeout=60)

`env` is the app's settings (it replaces the app settings of the parent's environment, keeping PATH and the
like); the host's output goes to a log file (`log_text()`), which failures quote.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from devhost.azurite import ROOT, free_port

# App settings never leak from the parent's environment into a host started with explicit settings.
_APP_SETTING_PREFIXES = ("AzureWebJobs", "AZURE_", "GRAPH_", "AUTH_", "CONSOLE_", "DEVHOST_", "FUNCTIONS_")


class HostFailedError(RuntimeError):
    pass


class HostProcess:
    def __init__(
        self,
        env: Mapping[str, str],
        *,
        port: int | None = None,
        app: str = "function_app:app",
        ready_path: str = "/api/health",
        script_root: Path = ROOT,
        keep_log: bool = False,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._settings = dict(env)
        self._app = app
        self._ready_path = ready_path
        self._script_root = script_root
        self._process: subprocess.Popen[bytes] | None = None
        self._keep_log = keep_log
        self._log_dir = Path(tempfile.mkdtemp(prefix="devhost-"))
        self.log_path = self._log_dir / "host.log"
        self.client = httpx.Client(base_url=self.url, timeout=60.0)

    def start(self, timeout: float = 60.0) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_APP_SETTING_PREFIXES)}
        env.update(self._settings)
        env.setdefault("PYTHONUNBUFFERED", "1")
        args = [sys.executable, "-m", "devhost", "run", "--port", str(self.port), "--app", self._app]
        args += ["--script-root", str(self._script_root)]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                args,
                cwd=self._script_root,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise HostFailedError(f"the local host exited during start-up:\n{self.log_tail()}")
            try:
                response = self.client.get(self._ready_path, timeout=5.0)
            except httpx.TransportError as error:
                last_error = str(error)
            else:
                if response.status_code == 200:
                    return
                last_error = f"{self._ready_path} answered {response.status_code}"
            time.sleep(0.1)
        self.stop()
        raise HostFailedError(
            f"the local host was not ready within {timeout} s ({last_error}):\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 15.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def close(self) -> None:
        """Stop the host and close the client; the log is removed unless `keep_log` was asked for."""
        self.stop()
        self.client.close()
        if not self._keep_log:
            self.discard_log()

    def discard_log(self) -> None:
        shutil.rmtree(self._log_dir, ignore_errors=True)

    def __enter__(self) -> HostProcess:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    # --- HTTP ------------------------------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.post(path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.put(path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.delete(path, **kwargs)

    def functions(self) -> list[dict[str, Any]]:
        response = self.client.get("/admin/functions")
        response.raise_for_status()
        listed: list[dict[str, Any]] = response.json()
        return listed

    def fire(self, name: str, input: str = "", *, wait: bool = True) -> dict[str, Any]:  # noqa: A002
        """Run a timer or queue function now. With `wait`, the outcome: `{"outcome": "Succeeded", ...}`."""
        response = self.client.post(
            f"/admin/functions/{name}", params={"wait": "true" if wait else "false"}, json={"input": input}
        )
        if response.status_code not in (200, 202):
            raise HostFailedError(f"firing {name} answered {response.status_code}: {response.text}")
        return response.json() if wait else {}

    def queue_status(self) -> dict[str, Any]:
        response = self.client.get("/admin/queues")
        response.raise_for_status()
        status: dict[str, Any] = response.json()
        return status

    def wait_for_queues_idle(self, timeout: float = 60.0, *, settle: float = 0.3) -> dict[str, Any]:
        """Wait until no queue holds a message and nothing runs, seen twice `settle` seconds apart."""
        deadline = time.monotonic() + timeout
        status = self.queue_status()
        while time.monotonic() < deadline:
            if status["idle"]:
                time.sleep(settle)
                status = self.queue_status()
                if status["idle"]:
                    return status
            time.sleep(0.1)
            status = self.queue_status()
        raise TimeoutError(f"queues still busy after {timeout} s: {status}")
