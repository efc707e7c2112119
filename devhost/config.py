"""What the local host reads from `host.json`, and the start-up error it raises on a bad configuration.

Only the parts the local host acts on are read: the HTTP route prefix and the queue extension options.
Defaults are the Functions host's own (see the `extensions.queues` reference), so an empty `host.json`
behaves as it would in Azure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

MessageEncoding = Literal["base64", "none"]

# A message is hidden this long while it is processed; the Functions host uses 10 minutes and renews it.
PROCESSING_VISIBILITY = timedelta(minutes=10)

# The Functions host polls an idle queue with a back-off of up to one minute; locally that makes every
# manual test wait, so without `maxPollingInterval` in host.json the local host backs off to 2 s at most.
LOCAL_MAX_POLLING_INTERVAL = timedelta(seconds=2)

_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$")


class StartupError(Exception):
    """The app cannot start as configured; the message names the function and setting at fault."""


@dataclass(frozen=True, slots=True)
class QueueOptions:
    batch_size: int = 16
    new_batch_threshold: int = 8
    max_dequeue_count: int = 5
    visibility_timeout: timedelta = timedelta(0)
    max_polling_interval: timedelta = LOCAL_MAX_POLLING_INTERVAL
    message_encoding: MessageEncoding = "base64"

    def with_overrides(self, env: Mapping[str, str]) -> QueueOptions:
        """Fast tests shorten the retry delay and the polling back-off through two environment variables."""
        visibility = _seconds(env, "DEVHOST_QUEUE_VISIBILITY_TIMEOUT_SECONDS")
        polling = _seconds(env, "DEVHOST_QUEUE_POLL_INTERVAL_SECONDS")
        return QueueOptions(
            batch_size=self.batch_size,
            new_batch_threshold=self.new_batch_threshold,
            max_dequeue_count=self.max_dequeue_count,
            visibility_timeout=self.visibility_timeout if visibility is None else visibility,
            max_polling_interval=self.max_polling_interval if polling is None else polling,
            message_encoding=self.message_encoding,
        )


@dataclass(frozen=True, slots=True)
class HostConfig:
    route_prefix: str = "api"
    queues: QueueOptions = QueueOptions()

    @classmethod
    def load(cls, path: Path) -> HostConfig:
        if not path.exists():
            return cls()
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise StartupError(f"{path} is not valid JSON: {error}") from None
        return cls.from_dict(document)

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> HostConfig:
        extensions = document.get("extensions") or {}
        http = extensions.get("http") or {}
        queues = extensions.get("queues") or {}
        batch_size = _int(queues, "batchSize", 16, low=1, high=32)
        encoding = str(queues.get("messageEncoding", "base64")).lower()
        if encoding not in ("base64", "none"):
            raise StartupError(
                f"host.json extensions.queues.messageEncoding must be base64 or none: {encoding!r}"
            )
        polling = queues.get("maxPollingInterval")
        options = QueueOptions(
            batch_size=batch_size,
            new_batch_threshold=_int(queues, "newBatchThreshold", batch_size // 2, low=0, high=1000),
            max_dequeue_count=_int(queues, "maxDequeueCount", 5, low=1, high=10_000),
            visibility_timeout=parse_timespan(
                queues.get("visibilityTimeout", "00:00:00"), "visibilityTimeout"
            ),
            max_polling_interval=(
                LOCAL_MAX_POLLING_INTERVAL
                if polling is None
                else parse_timespan(polling, "maxPollingInterval")
            ),
            message_encoding="base64" if encoding == "base64" else "none",
        )
        prefix = str(http.get("routePrefix", "api")).strip("/")
        return cls(route_prefix=prefix, queues=options)


def parse_timespan(value: object, name: str) -> timedelta:
    """A .NET TimeSpan as host.json writes it: `hh:mm:ss`, optionally `d.hh:mm:ss` and fractions."""
    match = _TIMESPAN.match(str(value).strip())
    if match is None:
        raise StartupError(f"host.json extensions.queues.{name} is not a TimeSpan (hh:mm:ss): {value!r}")
    days, hours, minutes, seconds, fraction = match.groups()
    return timedelta(
        days=int(days or 0),
        hours=int(hours),
        minutes=int(minutes),
        seconds=int(seconds),
        microseconds=int((fraction or "0").ljust(7, "0")) // 10,
    )


def _int(section: Mapping[str, Any], name: str, default: int, *, low: int, high: int) -> int:
    value = section.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise StartupError(
            f"host.json extensions.queues.{name} must be an integer in {low}..{high}: {value!r}"
        )
    return value


def _seconds(env: Mapping[str, str], name: str) -> timedelta | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        raise StartupError(f"{name} must be a number of seconds: {raw!r}") from None
    if seconds < 0:
        raise StartupError(f"{name} must not be negative: {raw!r}")
    return timedelta(seconds=seconds)


def flag(env: Mapping[str, str], name: str, *, default: bool = False) -> bool:
    """A boolean setting the way the Functions host reads them (`true`/`1`, case-insensitive)."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    return raw in ("1", "true", "yes", "on")
