"""Fault injection and request accounting of the simulator, shared by its request threads.

Faults are set from Python (`sim.faults.update(...)`) or over HTTP (`POST /_sim/faults` with the same
fields as JSON). Stats count requests per mailbox and the highest number of requests in flight at once per
mailbox, which is how a test proves the adapter's concurrency cap.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

Fault = Literal["throttle", "unavailable"]


@dataclass(slots=True)
class FaultSettings:
    throttle_every: int = 0  # every Nth Graph request answers 429 (0: never)
    throttle_next: int = 0  # the next K Graph requests answer 429
    unavailable_next: int = 0  # the next K Graph requests answer 503
    retry_after: int = 1  # seconds, sent as Retry-After with 429 and 503
    delay: float = 0.0  # seconds every Graph request waits before answering (slow pages)
    malformed_users: list[str] = field(default_factory=list)  # mailboxes whose pages are broken JSON
    mailbox: str | None = None  # when set, 429/503/delay apply to this mailbox only


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._settings = FaultSettings()
        self._seen = 0

    @property
    def settings(self) -> FaultSettings:
        with self._lock:
            return FaultSettings(**asdict(self._settings))

    def update(self, **changes: Any) -> None:
        """Change some fault settings; unknown names raise `TypeError` (a typo must not pass silently)."""
        known = {f.name for f in fields(FaultSettings)}
        unknown = set(changes) - known
        if unknown:
            raise TypeError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        with self._lock:
            for name, value in changes.items():
                normalised = [str(v).lower() for v in value] if name == "malformed_users" else value
                setattr(self._settings, name, normalised)

    def clear(self) -> None:
        with self._lock:
            self._settings = FaultSettings()
            self._seen = 0

    def delay_for(self, mailbox: str | None) -> float:
        with self._lock:
            s = self._settings
            return s.delay if s.mailbox in (None, mailbox) else 0.0

    def decide(self, mailbox: str | None) -> Fault | None:
        """The fault this request suffers, if any; consumes one of the "next K" budgets."""
        with self._lock:
            s = self._settings
            if s.mailbox not in (None, mailbox):
                return None
            self._seen += 1
            if s.throttle_next > 0:
                s.throttle_next -= 1
                return "throttle"
            if s.unavailable_next > 0:
                s.unavailable_next -= 1
                return "unavailable"
            if s.throttle_every > 0 and self._seen % s.throttle_every == 0:
                return "throttle"
            return None

    def is_malformed(self, mailbox: str | None) -> bool:
        with self._lock:
            return mailbox is not None and mailbox in self._settings.malformed_users


@dataclass(frozen=True, slots=True)
class RequestRecord:
    path: str
    query: dict[str, str]
    mailbox: str | None
    status: int
    at: float = field(default_factory=time.monotonic)  # when the answer was sent


class Stats:
    def __init__(self, keep: int = 5000) -> None:
        self._lock = threading.Lock()
        self._keep = keep
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests = 0
            self.per_mailbox: Counter[str] = Counter()
            self.statuses: Counter[int] = Counter()
            self.in_flight: Counter[str] = Counter()
            self.max_in_flight: Counter[str] = Counter()
            self.log: deque[RequestRecord] = deque(maxlen=self._keep)

    def begin(self, mailbox: str | None) -> None:
        with self._lock:
            self.requests += 1
            if mailbox:
                self.per_mailbox[mailbox] += 1
                self.in_flight[mailbox] += 1
                self.max_in_flight[mailbox] = max(self.max_in_flight[mailbox], self.in_flight[mailbox])

    def end(self, record: RequestRecord) -> None:
        with self._lock:
            self.statuses[record.status] += 1
            self.log.append(record)
            if record.mailbox:
                self.in_flight[record.mailbox] -= 1

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self.log)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self.requests,
                "perMailbox": dict(self.per_mailbox),
                "maxInFlight": dict(self.max_in_flight),
                "statuses": {str(k): v for k, v in self.statuses.items()},
            }
