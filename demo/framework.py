"""What every demo chapter gets: running services, an HTTP client, and plain-words output.

A chapter is a module with `TITLE` and `run(ctx)`; `demo/__main__.py` lists them in order. Before the app
starts, each function of `PREPARE` may start its own processes (e.g. the Graph simulator), register their
cleanups with `ctx.add_cleanup(...)` and pass settings to the app with `ctx.add_host_env(...)`. Everything
started is stopped at the end, also on failure or Ctrl-C.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import httpx

from devhost.azurite import Azurite, free_port
from devhost.local_settings import derive_notification_url
from devhost.process import HostFailedError, HostProcess


class DemoFailed(Exception):
    """Something the demo expected did not happen; the message says what, in plain words."""


class Chapter(Protocol):
    TITLE: str

    def run(self, ctx: Context) -> None: ...


# The per-user tables go over the app's storage account and two data shards (accounts of the same Azurite), so
# that the purge chapter shows the evidence of every shard.
DATA_SHARDS = 2


def demo_settings(connection_string: str, data_shards: str = "") -> dict[str, str]:
    """The app's settings for the demo: fresh secrets, timers fired by hand, quick queue retries."""
    return {
        "AzureWebJobsStorage": connection_string,
        "DATA_SHARDS": data_shards,
        "ADMIN_CENTER_WEBHOOK_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "CONTACT_HASH_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "AUTH_JWKS_URL": "http://127.0.0.1:9/jwks",
        "AUTH_AUDIENCE": "api://m365-consent-insights",
        "AUTH_ISSUER": "https://login.microsoftonline.com/{tenantId}/v2.0",
        "GRAPH_BASE_URL": "http://127.0.0.1:9/v1.0",
        "GRAPH_AUTH": "static-token",
        "GRAPH_STATIC_TOKEN": "demo-token",
        # Timers read their schedules as %NAME%; the host will not start without them.
        "INGESTION_SCHEDULE": "0 0 2 * * *",
        "MAINTENANCE_SCHEDULE": "0 */15 * * * *",
        "BACKUP_SCHEDULE": "0 30 3 * * *",
        "SUBSCRIPTION_SCHEDULE": "0 0 */6 * * *",
        "DEVHOST_TIMERS": "off",  # the demo fires each timer when its story needs it
        "DEVHOST_QUEUE_VISIBILITY_TIMEOUT_SECONDS": "1",
        "DEVHOST_QUEUE_POLL_INTERVAL_SECONDS": "0.2",
    }


class Progress:
    """A progress bar: redrawn in place on a terminal, a line every 10 % otherwise."""

    def __init__(self, total: int, label: str, out: Any) -> None:
        self.total = max(total, 1)
        self.label = label
        self.done = 0
        self._out = out
        self._tty = bool(getattr(out, "isatty", lambda: False)())
        self._last_decile = -1
        self.note = ""  # shown after the count, e.g. an estimate of the time left

    def advance(self, count: int = 1) -> None:
        self.done = min(self.total, self.done + count)
        self._draw()

    def update(self, done: int, note: str | None = None) -> None:
        self.done = min(self.total, max(0, done))
        if note is not None:
            self.note = note
        self._draw()

    def _draw(self) -> None:
        fraction = self.done / self.total
        if self._tty:
            bar = "#" * int(fraction * 30)
            note = f" ({self.note})" if self.note else ""
            self._out.write(f"\r     [{bar:<30}] {self.done}/{self.total} {self.label}{note}\033[K")
            self._out.flush()
            return
        decile = int(fraction * 10)
        if decile != self._last_decile:
            self._last_decile = decile
            note = f", {self.note}" if self.note else ""
            print(f"     {self.label}: {self.done}/{self.total} ({fraction:.0%}{note})", file=self._out)

    def finish(self) -> None:
        if self._tty:
            self._out.write("\n")
            self._out.flush()


class Context:
    def __init__(self, out: Any = sys.stdout) -> None:
        self.out = out
        self.azurite: Azurite | None = None
        self._host: HostProcess | None = None
        self.host_log: Path | None = None  # kept after the demo, for when something went wrong
        self.host_env: dict[str, str] = {}
        self.app_settings: dict[str, str] = {}  # what the running app was started with
        self._cleanups: list[Callable[[], object]] = []
        self._hosts: list[HostProcess] = []  # their logs are kept only when the demo fails

    # --- talking to the reader -------------------------------------------------------------------------

    def say(self, text: str) -> None:
        print(f"     {text}", file=self.out, flush=True)

    @contextlib.contextmanager
    def step(self, text: str) -> Iterator[None]:
        """`→ text ...` then `✓ done in 0.3 s`; a failure inside propagates after `✗`."""
        print(f"  →  {text}", file=self.out, flush=True)
        started = time.monotonic()
        try:
            yield
        except BaseException:
            print(f"  ✗  failed after {time.monotonic() - started:.1f} s", file=self.out, flush=True)
            raise
        print(f"  ✓  done in {time.monotonic() - started:.1f} s", file=self.out, flush=True)

    @contextlib.contextmanager
    def progress(self, total: int, label: str) -> Iterator[Progress]:
        bar = Progress(total, label, self.out)
        try:
            yield bar
        finally:
            bar.finish()

    def fail(self, text: str) -> DemoFailed:
        """`raise ctx.fail("...")`: stop the demo with a plain-words reason."""
        return DemoFailed(text)

    def expect(self, condition: bool, text: str) -> None:
        if not condition:
            raise DemoFailed(text)

    # --- services ----------------------------------------------------------------------------------------

    def add_cleanup(self, cleanup: Callable[[], object]) -> None:
        """Run `cleanup` at the end (last registered, first run), whatever happens."""
        self._cleanups.append(cleanup)

    def add_host_env(self, **settings: str) -> None:
        """Settings for the app; they apply from the next (re)start of the host."""
        self.host_env.update(settings)

    @property
    def host(self) -> HostProcess:
        if self._host is None:
            raise DemoFailed("the app is not running")
        return self._host

    @property
    def http(self) -> httpx.Client:
        """A client on the app's base URL: `ctx.http.get("/api/health")`."""
        return self.host.client

    def start_azurite(self) -> Azurite:
        azurite = Azurite()
        self.add_cleanup(azurite.cleanup)
        azurite.start()
        self.azurite = azurite
        return azurite

    def start_host(self) -> HostProcess:
        if self.azurite is None:
            raise DemoFailed("Azurite must start before the app")
        shards = self.azurite.data_shards(DATA_SHARDS)
        self.app_settings = demo_settings(self.azurite.connection_string, shards) | self.host_env
        port = free_port()
        # Graph change notifications (when a chapter turns them on) are posted to this host.
        derive_notification_url(port, self.app_settings)
        host = HostProcess(self.app_settings, port=port, keep_log=True)
        self.add_cleanup(host.close)
        self._hosts.append(host)
        self.host_log = host.log_path
        host.start()
        self._host = host
        return host

    def restart_host(self, **settings: str) -> HostProcess:
        """Stop the app and start it again with `settings` added (e.g. after starting a simulator)."""
        self.add_host_env(**settings)
        if self._host is not None:
            self._host.close()
            self._host = None
        return self.start_host()

    def discard_logs(self) -> None:
        for host in self._hosts:
            host.discard_log()

    def cleanup(self) -> list[str]:
        """Run every cleanup; return what failed rather than stop half-way."""
        problems: list[str] = []
        while self._cleanups:
            cleanup = self._cleanups.pop()
            try:
                cleanup()
            except Exception as error:  # noqa: BLE001  (one failed cleanup must not skip the others)
                problems.append(f"{getattr(cleanup, '__qualname__', cleanup)}: {error}")
        return problems


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def run_demo(
    chapters: Sequence[ModuleType],
    prepare: Sequence[Callable[[Context], None]] = (),
    out: Any = sys.stdout,
    epilogue: Sequence[Callable[[Context], None]] = (),
) -> int:
    """Start the services, run every chapter in order, stop everything; the process exit code."""
    signal.signal(signal.SIGTERM, _interrupt)
    ctx = Context(out)
    code = 0
    started = time.monotonic()
    try:
        print("m365-consent-insights — the life of a tenant, step by step\n", file=out, flush=True)
        with ctx.step("Starting the storage emulator (Azurite) on free ports"):
            ctx.start_azurite()
            ctx.say(f"the per-user tables are spread over {DATA_SHARDS + 1} of its accounts (DATA_SHARDS)")
        for hook in prepare:
            hook(ctx)
        with ctx.step("Starting the app in the local Functions host"):
            host = ctx.start_host()
            ctx.say(f"the app answers on {host.url}/api (log: {host.log_path})")
        for number, chapter in enumerate(chapters, start=1):
            print(f"\nChapter {number}: {chapter.TITLE}", file=out, flush=True)
            chapter.run(ctx)
        print(f"\nThe demo finished in {time.monotonic() - started:.0f} s.", file=out, flush=True)
        for hook in epilogue:
            hook(ctx)
    except KeyboardInterrupt:
        print("\nInterrupted: stopping everything the demo started.", file=out, flush=True)
        code = 130
    except (DemoFailed, HostFailedError) as error:
        print(f"\nThe demo stopped: {error}", file=out, flush=True)
        code = 1
    except Exception:  # noqa: BLE001  (an unexpected error still gets the cleanup and a clear exit code)
        print("\nThe demo stopped on an unexpected error:", file=out, flush=True)
        traceback.print_exc(file=out)
        code = 1
    finally:
        if code and ctx.host_log is not None:
            print(f"The app's log: {ctx.host_log}", file=out, flush=True)
        for problem in ctx.cleanup():
            print(f"Could not stop cleanly: {problem}", file=out, flush=True)
        if code == 0:
            ctx.discard_logs()
    return code
