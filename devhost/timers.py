"""Timer triggers on their NCRONTAB schedule (UTC, seconds first), one thread per timer.

As in the Functions host a timer never overlaps itself: the next occurrence is awaited after a run ends,
and when a run outlasts one or more occurrences the timer fires once at once with `past_due` set.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from azure.functions.timer import TimerRequest

from devhost.invoker import InvocationResult, Invoker
from devhost.registry import TimerFunction
from functions import ncrontab

logger = logging.getLogger("devhost")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def next_occurrence(schedule: str, after: datetime) -> datetime:
    """The first occurrence of `schedule` strictly after `after` (UTC), read as the Functions host reads it
    (a day and a day-of-week both given must both match)."""
    following = ncrontab.parse(schedule).next_after(after)
    if following is None:
        raise ValueError(f"{schedule!r} does not fire within {ncrontab.HORIZON.days} days")
    return following


def timer_request(*, past_due: bool, last: datetime | None, following: datetime | None) -> TimerRequest:
    status = {
        "Last": last.isoformat() if last else None,
        "Next": following.isoformat() if following else None,
        "LastUpdated": utc_now().isoformat(),
    }
    return TimerRequest(past_due=past_due, schedule_status=status, schedule={"AdjustForDST": True})


class TimerScheduler:
    def __init__(
        self,
        timers: tuple[TimerFunction, ...],
        invoker: Invoker,
        stop: threading.Event,
        clock: Clock = utc_now,
    ) -> None:
        self._timers = timers
        self._invoker = invoker
        self._stop = stop
        self._clock = clock
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for timer in self._timers:
            if timer.disabled:
                logger.info("Function 'Functions.%s' is disabled: its schedule does not run", timer.name)
                continue
            following = next_occurrence(timer.schedule, self._clock())
            logger.info(
                "Timer 'Functions.%s' schedule %r; next occurrence %s",
                timer.name, timer.schedule, following.isoformat(),
            )  # fmt: skip
            thread = threading.Thread(
                target=self._run, args=(timer,), name=f"timer-{timer.name}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def join(self, timeout: float) -> None:
        for thread in self._threads:
            thread.join(timeout)

    def fire_by_hand(self, timer: TimerFunction) -> InvocationResult:
        """What `POST /admin/functions/{name}` does for a timer: one run now, not past due."""
        following = next_occurrence(timer.schedule, self._clock())
        request = timer_request(past_due=False, last=None, following=following)
        return self._invoker.invoke(
            timer, request, "This function was programmatically called via the host APIs."
        )

    def _run(self, timer: TimerFunction) -> None:
        last: datetime | None = None
        if timer.run_on_startup:
            last = self._fire(timer, past_due=False, last=None, at=self._clock())
        due = next_occurrence(timer.schedule, self._clock())
        while not self._stop.is_set():
            wait = (due - self._clock()).total_seconds()
            if wait > 0:
                # Short waits so that a stop or a clock change is noticed promptly.
                self._stop.wait(min(wait, 1.0))
                continue
            last = self._fire(timer, past_due=False, last=last, at=due)
            following = next_occurrence(timer.schedule, due)
            now = self._clock()
            if following <= now:  # the run outlasted at least one occurrence
                last = self._fire(timer, past_due=True, last=last, at=now)
                following = next_occurrence(timer.schedule, self._clock())
            due = following

    def _fire(self, timer: TimerFunction, *, past_due: bool, last: datetime | None, at: datetime) -> datetime:
        following = next_occurrence(timer.schedule, at)
        request = timer_request(past_due=past_due, last=last, following=following)
        self._invoker.invoke(timer, request, f"Timer fired at {at.isoformat()}")
        return at
