"""The functions of an app, read once from `FunctionApp.get_functions()` and checked before anything starts.

`get_functions()` works once per app instance, so the registry is built once and everything else reads it.
Settings expressions (`%NAME%`) are resolved here, as the Functions host resolves them at indexing time; a
missing setting or a malformed NCRONTAB stops start-up with a message naming the function and the setting.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import azure.functions as func

from devhost.config import StartupError, flag
from functions import ncrontab

DEFAULT_CONNECTION = "AzureWebJobsStorage"
_EXPRESSION = re.compile(r"%([^%]+)%")


@dataclass(frozen=True, slots=True)
class FunctionEntry:
    name: str
    trigger_type: str  # httpTrigger, timerTrigger or queueTrigger, as in function.json
    binding_name: str  # the parameter the trigger value is passed as
    user_function: Callable[..., Any]
    bindings: tuple[dict[str, Any], ...]  # function.json bindings, for GET /admin/functions
    disabled: bool
    wants_context: bool

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.user_function)


@dataclass(frozen=True, slots=True)
class HttpFunction(FunctionEntry):
    route: str
    methods: tuple[str, ...] | None  # None: every method


@dataclass(frozen=True, slots=True)
class TimerFunction(FunctionEntry):
    schedule: str  # resolved NCRONTAB, seconds first
    schedule_source: str  # as written in the decorator, e.g. %INGESTION_SCHEDULE%
    run_on_startup: bool


@dataclass(frozen=True, slots=True)
class QueueFunction(FunctionEntry):
    queue_name: str
    connection: str  # the name of the setting that holds the storage connection


@dataclass(frozen=True, slots=True)
class Registry:
    functions: tuple[FunctionEntry, ...]

    def get(self, name: str) -> FunctionEntry | None:
        """Function names are case-insensitive, as in the Functions host."""
        wanted = name.casefold()
        return next((f for f in self.functions if f.name.casefold() == wanted), None)

    @property
    def http(self) -> tuple[HttpFunction, ...]:
        return tuple(f for f in self.functions if isinstance(f, HttpFunction))

    @property
    def timers(self) -> tuple[TimerFunction, ...]:
        return tuple(f for f in self.functions if isinstance(f, TimerFunction))

    @property
    def queues(self) -> tuple[QueueFunction, ...]:
        return tuple(f for f in self.functions if isinstance(f, QueueFunction))


def build_registry(app: func.FunctionApp, settings: Mapping[str, str]) -> Registry:
    """Read every function of `app` once; raise `StartupError` naming what is wrong."""
    try:
        functions = app.get_functions()
    except ValueError as error:  # duplicate names, or a second call on the same app instance
        raise StartupError(f"the app's functions cannot be indexed: {error}") from None
    entries = tuple(_entry(f, settings) for f in functions)
    names = [e.name.casefold() for e in entries]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise StartupError(f"function names must be unique (case-insensitively): {', '.join(duplicates)}")
    return Registry(entries)


def resolve_expressions(value: str, settings: Mapping[str, str], where: str) -> str:
    """Replace each `%NAME%` with the setting's value, as the Functions host does for binding properties."""

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        resolved = settings.get(name)
        if resolved is None or not resolved.strip():
            raise StartupError(f"{where}: the setting {name} (used as %{name}%) is not set")
        return resolved.strip()

    return _EXPRESSION.sub(lookup, value)


def validate_ncrontab(expression: str, where: str) -> str:
    """Refuse what the Functions host would refuse or never fire, read the way it reads it
    (functions/ncrontab.py)."""
    try:
        ncrontab.check(expression)
    except ncrontab.NeverFires:
        raise StartupError(
            f"{where}: the NCRONTAB expression {expression!r} never fires in the next four years"
        ) from None
    except ncrontab.ScheduleError as error:
        raise StartupError(
            f"{where}: {expression!r} is not a six-field NCRONTAB expression "
            f"(second minute hour day month day-of-week): {error}"
        ) from None
    return expression


def _entry(function: Any, settings: Mapping[str, str]) -> FunctionEntry:
    name: str = function.get_function_name()
    bindings = tuple(_binding_dict(raw) for raw in function.get_raw_bindings())
    trigger = function.get_trigger()
    if trigger is None:
        raise StartupError(f"function {name!r} has no trigger")
    trigger_type = str(trigger.get_binding_name())
    extra = [b for b in bindings if b.get("direction") != "in" and b.get("type") != "http"]
    if extra or sum(1 for b in bindings if b.get("direction") == "in") != 1:
        kinds = ", ".join(sorted({str(b.get("type")) for b in bindings if b.get("type") != trigger_type}))
        raise StartupError(
            f"function {name!r}: the local host supports only the trigger and an HTTP response, not: {kinds}"
        )
    user_function = function.get_user_function()
    common: dict[str, Any] = {
        "name": name,
        "trigger_type": trigger_type,
        "binding_name": str(trigger.name),
        "user_function": user_function,
        "bindings": bindings,
        "disabled": _disabled(name, settings),
        "wants_context": "context" in inspect.signature(user_function).parameters,
    }
    if trigger_type == "httpTrigger":
        methods = getattr(trigger, "methods", None)
        return HttpFunction(
            **common,
            route=str(getattr(trigger, "route", None) or name),
            methods=None if not methods else tuple(str(getattr(m, "value", m)).upper() for m in methods),
        )
    if trigger_type == "timerTrigger":
        source = str(trigger.schedule)
        where = f"timer function {name!r}"
        schedule = validate_ncrontab(resolve_expressions(source, settings, where), where)
        return TimerFunction(
            **common,
            schedule=schedule,
            schedule_source=source,
            run_on_startup=bool(getattr(trigger, "run_on_startup", False)),
        )
    if trigger_type == "queueTrigger":
        where = f"queue function {name!r}"
        return QueueFunction(
            **common,
            queue_name=resolve_expressions(str(trigger.queue_name), settings, where).lower(),
            connection=str(getattr(trigger, "connection", None) or DEFAULT_CONNECTION),
        )
    raise StartupError(f"function {name!r}: the local host does not support {trigger_type} triggers")


def _binding_dict(raw: str) -> dict[str, Any]:
    binding: dict[str, Any] = json.loads(raw)
    if isinstance(binding.get("direction"), str):
        binding["direction"] = binding["direction"].lower()
    return binding


def _disabled(name: str, settings: Mapping[str, str]) -> bool:
    # Linux app settings cannot hold dots, so Azure accepts underscores as well.
    return flag(settings, f"AzureWebJobs.{name}.Disabled") or flag(settings, f"AzureWebJobs_{name}_Disabled")
