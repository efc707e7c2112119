"""`python -m devhost serve|run`: the local Functions host on the command line.

serve  what `make serve` runs: reads local.settings.json (writing it from the example the first time),
       starts Azurite (standard ports, data under .azurite/) unless told not to, serves on 127.0.0.1:7071.
       Without any AUTH_* setting it also starts the development identity provider on 127.0.0.1
       (devhost/identity_provider.py) and makes the app and the console trust it.
run    what tests and the demo run: settings from the environment (plus `--settings-json`, the environment
       winning), storage already running, any port.

Set `DEVHOST_TIMERS=off` to keep timers off their schedules (they can still be fired through the admin API).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import azure.functions as func

from devhost import local_settings
from devhost.azurite import Azurite, AzuritePorts, connection_string, ports_open
from devhost.config import HostConfig, StartupError, flag
from devhost.host import LocalHost
from devhost.identity_provider import DevIdentityProvider

logger = logging.getLogger("devhost")
# What must not outlive the host even when it exits at once (a second signal): the Azurite `serve` started.
_HARD_STOPS: list[Callable[[], None]] = []
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
DEVELOPMENT_STORAGE = "UseDevelopmentStorage=true"
STORAGE_SETTING = "AzureWebJobsStorage"
AUTH_SETTINGS = ("AUTH_JWKS_URL", "AUTH_AUDIENCE", "AUTH_ISSUER")


class _UtcFormatter(logging.Formatter):
    """Timestamps as Core Tools prints them: `[2026-11-27T09:00:00.123Z]`."""

    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03dZ"


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    formatter = _UtcFormatter("[%(asctime)s] %(message)s")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    # The Azure SDKs log every HTTP request at INFO; the invocations are what a developer wants to see.
    for noisy in ("azure", "urllib3", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def load_app(reference: str, script_root: Path) -> func.FunctionApp:
    module_name, _, attribute = reference.partition(":")
    sys.path.insert(0, str(script_root))
    try:
        app = getattr(importlib.import_module(module_name), attribute or "app", None)
        if callable(app) and not isinstance(app, func.FunctionApp):
            app = app()  # a factory such as functions.app:create_app
    except Exception as error:  # as the Functions host does: the app did not load, say why and stop
        raise StartupError(f"{reference} failed to load: {type(error).__name__}: {error}") from error
    if not isinstance(app, func.FunctionApp):
        raise StartupError(f"{reference} is neither an azure.functions.FunctionApp nor a factory of one")
    return app


@contextlib.contextmanager
def storage_for_serve(args: argparse.Namespace, script_root: Path) -> Iterator[None]:
    """Start Azurite for `serve` when the settings point at development storage."""
    storage = os.environ.get(STORAGE_SETTING, "")
    if args.no_azurite:
        yield
        return
    if args.azurite_ports == "free":
        azurite = Azurite(AzuritePorts.free(), location=script_root / ".azurite", die_with_parent=True)
        os.environ[STORAGE_SETTING] = connection_string(azurite.ports)
    elif storage == DEVELOPMENT_STORAGE:
        if ports_open(AzuritePorts.standard()):
            logger.info("Something already listens on ports 10000-10002; using it as Azurite.")
            yield
            return
        azurite = Azurite(AzuritePorts.standard(), location=script_root / ".azurite", die_with_parent=True)
    else:
        logger.info("AzureWebJobsStorage is not development storage: not starting Azurite.")
        yield
        return
    logger.info("Starting Azurite (data in %s) ...", azurite.location)
    with azurite:
        _HARD_STOPS.append(azurite.kill_now)
        logger.info("Azurite is running (pid %s).", azurite.pid)
        try:
            yield
        finally:
            _HARD_STOPS.remove(azurite.kill_now)


@contextlib.contextmanager
def identity_for_serve() -> Iterator[None]:
    """Start the development identity provider for `serve` when no AUTH_* setting says whom to trust.

    Any AUTH_* setting given (not empty) means the developer meant a real identity provider, so none is
    started then. No hard stop is needed: it is a thread of this process and ends with it.
    """
    if any(os.environ.get(name, "").strip() for name in AUTH_SETTINGS):
        yield
        return
    with DevIdentityProvider("127.0.0.1") as provider:
        added = provider.settings()
        previous = {name: os.environ.get(name) for name in added}
        os.environ.update(added)  # the app reads its settings from the environment
        logger.info("No AUTH_* settings: development sign-in (loopback only) at %s", provider.sign_in_url)
        try:
            yield
        finally:
            for name, value in previous.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def host_settings(extra_json: str | None) -> dict[str, str]:
    settings = dict(os.environ)
    if extra_json:
        extra = json.loads(extra_json)
        if not isinstance(extra, dict):
            raise StartupError("--settings-json must be a JSON object of settings")
        for name, value in extra.items():
            settings.setdefault(str(name), str(value))
            os.environ.setdefault(str(name), str(value))  # the app reads its settings from the environment
    return settings


def serve_until_stopped(host: LocalHost) -> None:
    """Serve until SIGTERM, SIGINT or SIGHUP: the first stops gracefully (running invocations finish, then
    Azurite stops); a second (a second Ctrl-C, or a group signal followed by one to the process, as `timeout`
    and supervisors send) exits at once, stopping Azurite first. Killed outright, the host leaves nothing
    either: Azurite was started to die with it (`Azurite(die_with_parent=True)`)."""
    stop = threading.Event()

    def on_signal(*_: object) -> None:
        if stop.is_set():
            logger.warning("Stopping at once.")
            for hard_stop in tuple(_HARD_STOPS):  # a copy: the list may change under a signal
                hard_stop()
            os._exit(130)
        stop.set()

    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, on_signal)
    host.start()
    print_banner(host)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        logger.info("Stopping the host ...")
        host.stop()


def print_banner(host: LocalHost) -> None:
    lines = ["", "Functions:", ""]
    for function in host.registry.functions:
        described = host.describe_function(function.name) or {}
        if "invoke_url_template" in described:
            methods = ",".join(described.get("methods") or ["ALL"])
            lines.append(f"\t{function.name}: [{methods}] {described['invoke_url_template']}")
        else:
            lines.append(f"\t{function.name}: {function.trigger_type}")
    lines += ["", f"Host started on {host.url} (admin API: {host.url}/admin/functions)", ""]
    logger.info("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="local.settings.json, Azurite and the app on 127.0.0.1:7071")
    serve.add_argument("--port", type=int, default=7071)
    serve.add_argument("--no-azurite", action="store_true", help="storage is already running")
    serve.add_argument("--azurite-ports", choices=("standard", "free"), default="standard")
    run = commands.add_parser("run", help="settings from the environment, storage already running")
    run.add_argument("--port", type=int, default=7071)
    run.add_argument("--settings-json", help="extra settings as a JSON object (the environment wins)")
    for command in (serve, run):
        command.add_argument("--app", default="function_app:app", help="module:attribute of the FunctionApp")
        command.add_argument("--script-root", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    configure_logging()
    script_root: Path = args.script_root.resolve()
    try:
        if args.command == "serve":
            written = local_settings.write_from_example(script_root)
            if written:
                logger.info("Wrote %s from the example, with fresh local secrets.", written)
            values = local_settings.read_values(script_root / local_settings.SETTINGS_FILE)
            local_settings.apply(values, os.environ)
            if derived := local_settings.derive_notification_url(args.port, os.environ):
                logger.info("Graph notifications go to %s", derived)
            with storage_for_serve(args, script_root), identity_for_serve():
                return _run(args, script_root, dict(os.environ))
        return _run(args, script_root, host_settings(args.settings_json))
    except StartupError as error:
        print(f"devhost: cannot start: {error}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, script_root: Path, settings: dict[str, str]) -> int:
    app = load_app(args.app, script_root)
    host = LocalHost(
        app,
        settings,
        HostConfig.load(script_root / "host.json"),
        port=args.port,
        timers_enabled=flag(settings, "DEVHOST_TIMERS", default=True),
    )
    serve_until_stopped(host)
    return 0


if __name__ == "__main__":
    sys.exit(main())
