"""The app running in the local host as a subprocess, for e2e tests (and anyone else who wants one).

    with start_app_host(connection_string, GROUP_OPTOUT_EXISTING_DATA="retain") as host:
        host.get("/api/health")

`AppHost` is `devhost.process.HostProcess`: `.get/.post/.put/.delete(path, ...)` (httpx), `.functions()`,
`.fire(name, input, wait=True)`, `.queue_status()`, `.wait_for_queues_idle(timeout)`, `.log_text()`.
Timers stay off their schedules unless `DEVHOST_TIMERS="on"` is passed (tests fire them by hand), and a
failed queue message is retried after 1 s instead of host.json's 30 s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from devhost.process import HostFailedError, HostProcess
from tests.conftest import base_env

AppHost = HostProcess
# What the e2e `app_host_factory` fixture is: `(settings=None, **overrides) -> AppHost`.
AppHostFactory = Callable[..., AppHost]

# What makes a subprocess host deterministic and quick under test; each can be overridden.
TEST_HOST_SETTINGS: dict[str, str] = {
    "DEVHOST_TIMERS": "off",
    "DEVHOST_QUEUE_VISIBILITY_TIMEOUT_SECONDS": "1",
    "DEVHOST_QUEUE_POLL_INTERVAL_SECONDS": "0.2",
}

__all__ = [
    "TEST_HOST_SETTINGS",
    "AppHost",
    "AppHostFactory",
    "HostFailedError",
    "app_host_env",
    "start_app_host",
]


def app_host_env(
    connection_string: str, settings: Mapping[str, str] | None = None, **overrides: str
) -> dict[str, str]:
    """The test settings (tests/conftest.py's `base_env`) plus the host's test settings and overrides.

    `settings` is for names that are not Python identifiers, e.g. `{"AzureWebJobs.ingest.Disabled": "true"}`.
    """
    env = base_env(connection_string, **TEST_HOST_SETTINGS)
    env.update(settings or {})
    env.update(overrides)
    return env


def start_app_host(
    connection_string: str, settings: Mapping[str, str] | None = None, **overrides: str
) -> AppHost:
    """Start `function_app.app` in a local host subprocess on a free port; ready when /api/health is 200."""
    host = AppHost(app_host_env(connection_string, settings, **overrides))
    try:
        host.start()
    except BaseException:
        host.close()
        raise
    return host
