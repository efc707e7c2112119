"""The simulator's own outgoing HTTP, as Graph calls an app: validation handshakes and notification POSTs.

Connections go direct, ignoring proxy settings from the environment: Graph reaches the endpoint from the
cloud, and a proxy meant for the developer's own traffic must not sit between the simulator and a loopback
receiver. Redirects are not followed (Graph does not follow them), so an endpoint that redirects fails.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import quote, urlsplit

from graphsim.wire import JsonObject

VALIDATION_TIMEOUT = 10.0  # seconds Graph gives an endpoint to echo the validation token
NOTIFY_TIMEOUT = 10.0
RETRY_DELAYS = (0.5, 1.0)  # a failed notification is tried again after these pauses (3 attempts in all)
_MAX_ANSWER = 64 * 1024  # an endpoint's answer is only ever a token or an acknowledgement
# Any of these means the endpoint did not answer properly; the attempt is recorded, nothing is raised.
_SEND_ERRORS = (OSError, http.client.HTTPException, ValueError)

Kind = Literal["change", "lifecycle"]


def graph_time(instant: datetime) -> str:
    """Graph writes instants with seven fractional digits (.NET ticks) and a Z."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One POST attempt to an app's endpoint: `status` when it answered, `error` when it did not."""

    subscription_id: str
    kind: Kind
    url: str
    attempt: int
    status: int | None
    error: str | None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def json(self) -> JsonObject:
        return {
            "subscriptionId": self.subscription_id,
            "kind": self.kind,
            "url": self.url,
            "attempt": self.attempt,
            "status": self.status,
            "error": self.error,
            "at": graph_time(self.at),
        }


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        """Refuse every redirect: urllib then raises the 3xx as an `HTTPError`, which fails the call."""


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


def _post(url: str, body: bytes, content_type: str, timeout: float) -> tuple[int, str, bytes]:
    """POST and return (status, content type, answer), an error status included; raises on no answer."""
    request = urllib.request.Request(  # noqa: S310  (callers accept http(s) URLs only)
        url, data=body, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read(_MAX_ANSWER)
    except urllib.error.HTTPError as e:
        try:
            return e.code, e.headers.get("Content-Type", ""), e.read(_MAX_ANSWER)
        finally:
            e.close()


def validation_token() -> str:
    # Spaces, a colon and a dash: an endpoint that echoes the raw query string instead of the decoded
    # value fails, as it would against Graph.
    return f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"


def validate(url: str, token: str | None = None) -> bool:
    """Graph's handshake: POST `?validationToken=...` with an empty body; the endpoint must answer 200 with
    the decoded token, exactly, as text/plain."""
    token = token or validation_token()
    separator = "&" if urlsplit(url).query else "?"
    target = f"{url}{separator}validationToken={quote(token, safe='')}"
    try:
        status, content_type, raw = _post(target, b"", "text/plain; charset=utf-8", VALIDATION_TIMEOUT)
    except _SEND_ERRORS:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return status == 200 and media_type == "text/plain" and raw == token.encode()


class Outbox:
    """Notification POSTs: change notifications on background threads (so the change that caused them is
    answered at once), each retried like Graph does; every attempt logged for the control API."""

    def __init__(
        self,
        *,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        timeout: float = NOTIFY_TIMEOUT,
        keep: int = 5000,
    ) -> None:
        self._retry_delays = retry_delays
        self._timeout = timeout
        self._lock = threading.Lock()
        self._log: deque[Delivery] = deque(maxlen=keep)
        self._threads: set[threading.Thread] = set()
        self._closed = threading.Event()

    def send(self, subscription_id: str, url: str, payload: JsonObject) -> bool:
        """Schedule a change notification; False once closed (the simulator has stopped)."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        with self._lock:
            if self._closed.is_set():
                return False
            thread = threading.Thread(
                target=self._deliver, args=(subscription_id, url, body), name="graphsim-notify", daemon=True
            )
            # Started under the lock: wait_idle must never find a thread it cannot join yet.
            thread.start()
            self._threads.add(thread)
        return True

    def send_now(self, subscription_id: str, kind: Kind, url: str, payload: JsonObject) -> Delivery:
        """One attempt, on the caller's thread (lifecycle events, which the control API answers with)."""
        return self._attempt(subscription_id, kind, url, json.dumps(payload).encode(), 1)

    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._log)

    def clear(self) -> None:
        with self._lock:
            self._log.clear()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait for scheduled notifications to be delivered or given up; False if some still run."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                running = next(iter(self._threads), None)
            if running is None:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            running.join(timeout=remaining)

    def close(self, timeout: float = 5.0) -> None:
        """Stop retrying and wait (bounded) for deliveries in flight, so no thread outlives the simulator."""
        with self._lock:
            self._closed.set()
        self.wait_idle(timeout)

    def _deliver(self, subscription_id: str, url: str, body: bytes) -> None:
        try:
            delays = (0.0, *self._retry_delays)
            for attempt, delay in enumerate(delays, start=1):
                # The closed event doubles as the pause, so stopping the simulator cuts retries short.
                if delay and self._closed.wait(delay):
                    return
                if self._attempt(subscription_id, "change", url, body, attempt).ok:
                    return
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _attempt(self, subscription_id: str, kind: Kind, url: str, body: bytes, attempt: int) -> Delivery:
        try:
            status, _, _ = _post(url, body, "application/json", self._timeout)
            delivery = Delivery(subscription_id, kind, url, attempt, status, None)
        except _SEND_ERRORS as e:
            delivery = Delivery(subscription_id, kind, url, attempt, None, f"{type(e).__name__}: {e}")
        with self._lock:
            self._log.append(delivery)
        return delivery
