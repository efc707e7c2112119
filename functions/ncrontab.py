"""Six-field NCRONTAB schedules as the Functions host reads them, checked before the host ever sees them.

The timer triggers take their schedules from settings (`%INGESTION_SCHEDULE%`...), and the host parses them
with NCrontab, whose grammar is narrower than the cron dialects people copy from: `L`, `W`, `#` and `?` do
not exist, day-of-week runs 0-6 (Sunday is 0, never 7), and a day and a day-of-week both given must both
match (cron matches either). An expression the host refuses stops its start-up; one it accepts but never
fires (`0 0 2 30 2 *`) is worse: the timer silently never runs. Both are refused here, at start-up, naming
the setting (functions/settings.py); the local host (devhost/) fires timers with the same reading, so it runs
what Azure would run.

croniter reads the expression (`second_at_beginning`, and `day_or=False` for NCrontab's "both must match");
this module only refuses first what croniter would take and NCrontab would not. Each field is a
comma-separated list of `*`, a value or a range `low-high` (low <= high: NCrontab swaps a reversed range,
cron dialects wrap it, so neither reading is assumed), each optionally followed by `/step`; months and days
of the week also take English names, in full or their first three letters (`Jan`, `january`, `MON`).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import CroniterBadDateError, CroniterError, croniter

# How far ahead a schedule must fire at least once: four years hold every date, 29 February included.
HORIZON = timedelta(days=4 * 365 + 1)
_ANY_START = datetime(2000, 1, 1, tzinfo=UTC)

_FIELDS = ("second", "minute", "hour", "day", "month", "day-of-week")
_NAMES: dict[str, tuple[str, ...]] = {
    "month": (
        "january", "february", "march", "april", "may", "june",
        "july", "august", "september", "october", "november", "december",
    ),
    "day-of-week": ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"),
}  # fmt: skip
_WORD = re.compile(r"[A-Za-z]+")
_ITEM = re.compile(r"^(?P<base>\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:/(?P<step>[0-9]+))?$")
# croniter's `expanded` lists are ordered minute, hour, day, month, day-of-week, second.
_EXPANDED = {"minute": 0, "hour": 1, "day": 2, "month": 3, "day-of-week": 4, "second": 5}
_FULL = {"second": 60, "minute": 60, "hour": 24, "day": 31, "month": 12, "day-of-week": 7}


class ScheduleError(ValueError):
    """Not an NCRONTAB expression the Functions host accepts; the message says which part and why."""


class NeverFires(ScheduleError):
    """An expression the host accepts whose timer would never run (`0 0 2 30 2 *`)."""


@dataclass(frozen=True, slots=True)
class Schedule:
    expression: str
    expanded: list[list[Any]]  # croniter's reading: each field's values, or ["*"]

    def next_after(self, after: datetime, horizon: timedelta = HORIZON) -> datetime | None:
        """The first instant strictly after `after` (UTC), or None if there is none within `horizon`."""
        after = after.astimezone(UTC)
        try:
            found: datetime = _reader(self.expression, after).get_next(datetime)
        except CroniterBadDateError:  # croniter gave up looking: no date matches
            return None
        found = found.astimezone(UTC)
        return found if found - after <= horizon else None

    @property
    def every_day(self) -> bool:
        """Whether it fires on every date: a day, month or day-of-week left out leaves some dates out."""
        return all(self._count(name) == _FULL[name] for name in ("day", "month", "day-of-week"))

    def longest_gap(self) -> timedelta | None:
        """The longest time between two consecutive runs; None when some dates have no run at all (the gap is
        then a day or more)."""
        if not self.every_day:
            return None
        times = sorted(
            h * 3600 + m * 60 + s
            for h in self._values("hour") for m in self._values("minute") for s in self._values("second")
        )  # fmt: skip
        gaps = [b - a for a, b in itertools.pairwise(times)]
        gaps.append(times[0] + 86_400 - times[-1])  # from the last run of a day to the first of the next
        return timedelta(seconds=max(gaps))

    def _values(self, name: str) -> list[int]:
        values = self.expanded[_EXPANDED[name]]
        return list(range(_FULL[name])) if values == ["*"] else [int(v) for v in values]

    def _count(self, name: str) -> int:
        values = self.expanded[_EXPANDED[name]]
        return (
            _FULL[name]
            if values == ["*"]
            else len({int(v) % 7 if name == "day-of-week" else v for v in values})
        )


def check(expression: str) -> Schedule:
    """`parse`, and refuse a schedule that never fires. Without a year field a schedule repeats within every
    four years (29 February included), so looking from any fixed instant tells: no clock is read."""
    schedule = parse(expression)
    if schedule.next_after(_ANY_START) is None:
        raise NeverFires(f"it never fires in {HORIZON.days} days, so its timer would never run")
    return schedule


def parse(expression: str) -> Schedule:
    """The schedule of a six-field NCRONTAB expression, or `ScheduleError`."""
    tokens = [token for token in expression.split(" ") if token]
    if len(tokens) != len(_FIELDS):
        raise ScheduleError(
            f"it has {len(tokens)} space-separated fields, not 6 (second minute hour day month day-of-week)"
        )
    for name, token in zip(_FIELDS, tokens, strict=True):
        _check(name, token)
    # croniter knows three-letter names only; NCrontab takes them in full too.
    normal = " ".join(_WORD.sub(lambda word: word.group().lower()[:3], token) for token in tokens)
    try:
        reader = _reader(normal, _ANY_START)
    except (CroniterError, ValueError, KeyError) as error:
        raise ScheduleError(str(error)) from None
    return Schedule(normal, reader.expanded)


def _reader(expression: str, start: datetime) -> Any:
    return croniter(expression, start, second_at_beginning=True, day_or=False)


def _check(name: str, token: str) -> None:
    """Refuse in one field what croniter takes and NCrontab has not: cron extensions, 7 for Sunday, reversed
    ranges, a step of 0."""
    for item in token.split(","):
        match = _ITEM.match(item)
        if match is None:
            raise ScheduleError(
                f"{name} {item!r} is not *, a value or a range with an optional /step "
                "(L, W, #, ? and other cron extensions are not NCRONTAB)"
            )
        step = match.group("step")
        if step is not None and int(step) < 1:
            raise ScheduleError(f"{name} step {step!r} is not 1 or more")
        base = match.group("base")
        if base == "*":
            continue
        ends = [_value(name, part) for part in base.split("-")]
        if ends != sorted(ends):
            raise ScheduleError(f"{name} range {base!r} runs backwards")


def _value(name: str, text: str) -> int:
    if text.isascii() and text.isdigit():
        number = int(text)
        if name == "day-of-week" and number > 6:
            raise ScheduleError(f"day-of-week {number} is not 0-6 (Sunday is 0)")
        return number
    names = _NAMES.get(name, ())
    for index, full in enumerate(names):
        if text.lower() in (full, full[:3]):
            return index
    expected = "a number" + (" or an English name, in full or its first three letters" if names else "")
    raise ScheduleError(f"{name} {text!r} is not {expected}")
