"""RFC 3339 text of instants: one form with a "Z" wherever a time leaves the process."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from functions.domain.times import parse_rfc3339, rfc3339, rfc3339_seconds

PARIS_WINTER = timezone(timedelta(hours=1))


def test_an_instant_is_written_in_utc_with_a_z() -> None:
    assert rfc3339(datetime(2026, 11, 27, 10, 0, tzinfo=PARIS_WINTER)) == "2026-11-27T09:00:00Z"


def test_microseconds_are_written_only_when_there_are_some() -> None:
    assert rfc3339(datetime(2026, 11, 27, 9, 0, 0, 250000, tzinfo=UTC)) == "2026-11-27T09:00:00.250000Z"


def test_the_whole_seconds_form_drops_microseconds() -> None:
    instant = datetime(2026, 11, 27, 10, 0, 5, 999999, tzinfo=PARIS_WINTER)
    assert rfc3339_seconds(instant) == "2026-11-27T09:00:05Z"


@pytest.mark.parametrize("write", [rfc3339, rfc3339_seconds])
def test_a_time_without_a_zone_is_refused_rather_than_read_as_local_time(
    write: Callable[[datetime], str],
) -> None:
    naive = datetime(2026, 11, 27, 9, 0)  # noqa: DTZ001  (the naive time is what is tried)
    with pytest.raises(ValueError, match="without a zone"):
        write(naive)


def test_what_is_written_reads_back_as_the_same_instant() -> None:
    instant = datetime(2026, 2, 28, 23, 59, 59, 123456, tzinfo=PARIS_WINTER)
    assert parse_rfc3339(rfc3339(instant)) == instant


def test_nanoseconds_and_offsets_are_read_as_utc_microseconds() -> None:
    assert parse_rfc3339("2026-11-27T10:00:00.123456789+01:00") == datetime(
        2026, 11, 27, 9, 0, 0, 123456, tzinfo=UTC
    )


@pytest.mark.parametrize("text", ["2026-11-27", "2026-11-27T09:00:00", "yesterday", "2026-13-01T00:00:00Z"])
def test_text_without_a_zone_or_not_rfc_3339_is_not_a_time(text: str) -> None:
    assert parse_rfc3339(text) is None
