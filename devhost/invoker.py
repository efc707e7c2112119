"""Calls user functions the way the Python worker does, and logs each invocation the way Core Tools does.

Sync functions run on the caller's thread (an HTTP request thread, a queue worker, a timer thread); async
functions run on one long-lived event loop, as in the worker, so clients cached across invocations stay
bound to a single loop. Every invocation is logged as `Executing ...` / `Executed ... (Succeeded|Failed,
Id=..., Duration=...ms)`; a failure's stack trace goes to the log, never to a caller.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

import azure.functions as func

from devhost.registry import FunctionEntry

logger = logging.getLogger("devhost")

Outcome = Literal["Succeeded", "Failed"]


@dataclass(frozen=True, slots=True)
class InvocationResult:
    invocation_id: str
    function_name: str
    outcome: Outcome
    duration_ms: float
    value: Any = None
    error: BaseException | None = None

    @property
    def succeeded(self) -> bool:
        return self.outcome == "Succeeded"

    def summary(self) -> dict[str, Any]:
        """What the admin API reports: the outcome and the error's type and message, never its trace."""
        body: dict[str, Any] = {
            "id": self.invocation_id,
            "function": self.function_name,
            "outcome": self.outcome,
            "durationMs": round(self.duration_ms, 1),
        }
        if self.error is not None:
            body["error"] = f"{type(self.error).__name__}: {self.error}"
        return body


class _Context(func.Context):
    """The `context` argument a function may declare."""

    def __init__(self, invocation_id: str, function_name: str) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._thread_local_storage = threading.local()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return "."

    @property
    def thread_local_storage(self) -> Any:
        return self._thread_local_storage

    @property
    def trace_context(self) -> Any:
        return None

    @property
    def retry_context(self) -> Any:
        return None


class Invoker:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._in_flight: Counter[str] = Counter()
        self._idle = threading.Condition(self._lock)

    def start(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._loop.run_forever, name="devhost-async", daemon=True)
        self._loop_thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Wait (up to `timeout`) for running invocations, then stop the event loop."""
        with self._idle:
            self._idle.wait_for(lambda: not +self._in_flight, timeout=timeout)
        loop, thread, self._loop, self._loop_thread = self._loop, self._loop_thread, None, None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        if not thread.is_alive():
            loop.close()

    @property
    def in_flight(self) -> int:
        with self._lock:
            return sum(self._in_flight.values())

    def invoke(self, entry: FunctionEntry, value: Any, reason: str) -> InvocationResult:
        invocation_id = str(uuid.uuid4())
        logger.info(
            "Executing 'Functions.%s' (Reason='%s', Trigger=%s, Id=%s)",
            entry.name, reason, entry.trigger_type, invocation_id,
        )  # fmt: skip
        kwargs: dict[str, Any] = {entry.binding_name: value}
        if entry.wants_context:
            kwargs["context"] = _Context(invocation_id, entry.name)
        with self._lock:
            self._in_flight[entry.name] += 1
        started = time.perf_counter()
        try:
            returned = self._call(entry, kwargs)
        except Exception as error:  # a function's failure is an outcome, not a host crash
            result = InvocationResult(invocation_id, entry.name, "Failed", _ms(started), error=error)
            logger.error(
                "Executed 'Functions.%s' (Failed, Id=%s, Duration=%.0fms)\n"
                "Exception while executing function: Functions.%s. %s: %s",
                entry.name, invocation_id, result.duration_ms, entry.name, type(error).__name__, error,
                exc_info=error,
            )  # fmt: skip
        else:
            result = InvocationResult(invocation_id, entry.name, "Succeeded", _ms(started), value=returned)
            logger.info(
                "Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%.0fms)",
                entry.name, invocation_id, result.duration_ms,
            )  # fmt: skip
        finally:
            with self._idle:
                self._in_flight[entry.name] -= 1
                self._idle.notify_all()
        return result

    def _call(self, entry: FunctionEntry, kwargs: dict[str, Any]) -> Any:
        if entry.is_async:
            if self._loop is None:
                raise RuntimeError("the invoker is not started")
            future = asyncio.run_coroutine_threadsafe(entry.user_function(**kwargs), self._loop)
            return future.result()
        return entry.user_function(**kwargs)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
