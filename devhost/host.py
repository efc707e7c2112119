"""The local Functions host: one app's functions behind HTTP, on timers and on queues.

`LocalHost(app, settings, config)` indexes the app once (raising `StartupError` for anything it cannot run
as Azure would), then `start()` opens the HTTP port and starts the timers and queue listeners; `stop()`
stops them and waits for running invocations. Tests run it in-process with their own small apps;
`python -m devhost` runs `function_app.app` with it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import azure.functions as func

from devhost.config import HostConfig, StartupError
from devhost.http_server import HostHTTPServer
from devhost.invoker import InvocationResult, Invoker
from devhost.queues import QueueListener, poison_queue_name, queue_client
from devhost.registry import FunctionEntry, HttpFunction, QueueFunction, TimerFunction, build_registry
from devhost.routing import Router
from devhost.timers import Clock, TimerScheduler, utc_now

LOOPBACK = "127.0.0.1"


class LocalHost:
    def __init__(
        self,
        app: func.FunctionApp,
        settings: Mapping[str, str],
        config: HostConfig | None = None,
        *,
        port: int = 7071,
        timers_enabled: bool = True,
        clock: Clock = utc_now,
    ) -> None:
        self.config = config or HostConfig()
        self.settings = dict(settings)
        self.registry = build_registry(app, self.settings)
        self.router: Router[HttpFunction] = Router(self.config.route_prefix)
        for function in self.registry.http:
            if not function.disabled:
                self.router.add(function.route, function.methods, function)
        self.port = port
        self.invoker = Invoker()
        self._stop = threading.Event()
        self._timers = TimerScheduler(
            self.registry.timers if timers_enabled else (), self.invoker, self._stop, clock
        )
        self._timers_by_name = {t.name: t for t in self.registry.timers}
        options = self.config.queues.with_overrides(self.settings)
        self._listeners = {
            q.name: QueueListener(
                q,
                client=queue_client(q.connection, self.settings, q.queue_name),
                poison_client=queue_client(q.connection, self.settings, poison_queue_name(q.queue_name)),
                options=options,
                invoker=self.invoker,
                stop=self._stop,
            )
            for q in self.registry.queues
        }
        self._server: HostHTTPServer | None = None
        self._server_thread: threading.Thread | None = None
        self._started_at = time.monotonic()

    @property
    def authority(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.authority}"

    def start(self) -> None:
        try:
            self._server = HostHTTPServer((LOOPBACK, self.port), self)
        except OSError as error:
            raise StartupError(f"cannot listen on {self.authority}: {error.strerror}") from None
        self.port = self._server.server_address[1]  # port 0 asks for a free one
        self.invoker.start()
        self._server_thread = threading.Thread(
            target=self._server.serve_forever, name="devhost-http", daemon=True
        )
        self._server_thread.start()
        self._timers.start()
        for listener in self._listeners.values():
            if not listener.function.disabled:
                listener.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._timers.join(timeout)
        for listener in self._listeners.values():
            listener.join(timeout)
        self.invoker.stop(timeout)

    def __enter__(self) -> LocalHost:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def fire(self, entry: FunctionEntry, text_input: str) -> InvocationResult:
        """Run a timer or queue function once, now (`POST /admin/functions/{name}`)."""
        if isinstance(entry, TimerFunction):
            return self._timers.fire_by_hand(self._timers_by_name[entry.name])
        if isinstance(entry, QueueFunction):
            return self._listeners[entry.name].invoke_by_hand(text_input)
        raise ValueError(f"{entry.name} is not a timer or queue function")

    def describe_functions(self) -> list[dict[str, Any]]:
        return [self._describe(f) for f in self.registry.functions]

    def describe_function(self, name: str) -> dict[str, Any] | None:
        entry = self.registry.get(name)
        return None if entry is None else self._describe(entry)

    def queue_status(self) -> dict[str, Any]:
        """Counts per queue and running invocations; `idle` when nothing is queued or running."""
        queues = [listener.stats() for listener in self._listeners.values()]
        in_flight = self.invoker.in_flight
        idle = in_flight == 0 and all(q.approximate_message_count == 0 and q.in_flight == 0 for q in queues)
        return {"idle": idle, "inFlightInvocations": in_flight, "queues": [q.as_dict() for q in queues]}

    def status(self) -> dict[str, Any]:
        return {
            "state": "Running" if not self._stop.is_set() else "Stopping",
            "processUptime": round((time.monotonic() - self._started_at) * 1000),
            "functions": [f.name for f in self.registry.functions],
        }

    def _describe(self, entry: FunctionEntry) -> dict[str, Any]:
        described: dict[str, Any] = {
            "name": entry.name,
            "language": "python",
            "trigger": entry.trigger_type,
            "isDisabled": entry.disabled,
            "href": f"{self.url}/admin/functions/{entry.name}",
            "config": {"bindings": list(entry.bindings)},
        }
        if isinstance(entry, HttpFunction):
            prefix = f"/{self.config.route_prefix}" if self.config.route_prefix else ""
            described["invoke_url_template"] = f"{self.url}{prefix}/{entry.route.strip('/')}"
            described["methods"] = list(entry.methods) if entry.methods else None
        elif isinstance(entry, TimerFunction):
            described["schedule"] = entry.schedule
            described["runOnStartup"] = entry.run_on_startup
        elif isinstance(entry, QueueFunction):
            described["queueName"] = entry.queue_name
            described["connection"] = entry.connection
        return described
