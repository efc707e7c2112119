"""RFC 3339 text of instants: the one way we write a UTC time with a "Z", and the one way we read one.

Every API answer, stored view and Graph query option writes times through `rfc3339` (or `rfc3339_seconds`
where the other side wants whole seconds), so a time looks the same wherever it leaves the process. A naive
`datetime` is refused rather than read in the machine's local zone: the same code would then write
different instants on a laptop and in Azure.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?P<fraction>\.\d{1,9})?(?P<zone>[Zz]|[+-]\d{2}:\d{2})"
)


def _utc(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"a time without a zone is ambiguous: {instant.isoformat()}")
    return instant.astimezone(UTC)


def rfc3339(instant: datetime) -> str:
    """`2026-11-27T09:00:00Z`, or `2026-11-27T09:00:00.250000Z` when there are microseconds."""
    return _utc(instant).replace(tzinfo=None).isoformat() + "Z"


def rfc3339_seconds(instant: datetime) -> str:
    """`2026-11-27T09:00:00Z`, microseconds dropped (Graph's `$filter` and `calendarView` bounds)."""
    return _utc(instant).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(value: str) -> datetime | None:
    """An RFC 3339 date-time with a zone, in UTC; None when `value` is not one."""
    match = _RFC3339.fullmatch(value)
    if match is None:
        return None
    fraction = match.group("fraction") or ""
    # Python keeps microseconds; CloudEvents senders may send nanoseconds.
    text = value[: match.start("fraction")] + fraction[:7] + match.group("zone") if fraction else value
    try:
        return datetime.fromisoformat(text.upper()).astimezone(UTC)
    except ValueError:
        return None
