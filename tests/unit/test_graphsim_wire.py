"""The simulator's reading of OData query options, as Graph reads them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from graphsim import wire
from graphsim.generate import TenantSpec
from graphsim.model import MailCopy
from graphsim.tenant import Tenant


def test_a_received_window_is_read_from_ge_and_lt() -> None:
    window = wire.received_window(
        {"$filter": "receivedDateTime ge 2026-01-01T00:00:00Z and receivedDateTime lt 2026-02-01T00:00:00Z"}
    )
    assert window.start == datetime(2026, 1, 1, tzinfo=UTC)
    assert window.end == datetime(2026, 2, 1, tzinfo=UTC)


def test_gt_and_le_exclude_and_include_their_bounds() -> None:
    window = wire.received_window(
        {"$filter": "receivedDateTime gt 2026-01-01T00:00:00Z and receivedDateTime le 2026-02-01T00:00:00Z"}
    )
    assert window.start == datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=1)
    assert window.end == datetime(2026, 2, 1, tzinfo=UTC) + timedelta(microseconds=1)


@pytest.mark.parametrize(
    "expr", ["subject eq 'x'", "receivedDateTime ge yesterday", "receivedDateTime ne 2026"]
)
def test_an_unsupported_filter_is_a_bad_request(expr: str) -> None:
    with pytest.raises(wire.QueryError) as caught:
        wire.received_window({"$filter": expr})
    assert caught.value.status == 400


@pytest.mark.parametrize("value", ["0", "1001", "-1", "ten"])
def test_top_outside_1_to_1000_is_a_bad_request(value: str) -> None:
    with pytest.raises(wire.QueryError) as caught:
        wire.top({"$top": value}, 10, 1000)
    assert caught.value.status == 400


def test_messages_default_to_newest_first() -> None:
    assert wire.descending({}, wire.Window(None, None, None)) is True
    assert wire.descending({"$orderby": "receivedDateTime asc"}, wire.Window(None, None, None)) is False


def test_orderby_a_property_not_first_in_the_filter_is_refused_as_graph_does() -> None:
    with pytest.raises(wire.QueryError) as caught:
        wire.descending({"$orderby": "receivedDateTime desc"}, wire.Window(None, None, "sentDateTime"))
    assert caught.value.code == "InefficientFilter"


def test_select_keeps_id_and_annotations_only_besides_the_named_fields() -> None:
    t = Tenant(TenantSpec(users=2, messages_per_user_per_month=3, months=1))
    copy: MailCopy = next(t.mail_copies(t.users()[0].id, t.spec.start, t.spec.now))
    selected = wire.select(wire.message_json(copy), ["receivedDateTime", "from"])
    assert set(selected) == {"@odata.etag", "id", "receivedDateTime", "from"}


def test_tokens_round_trip_and_garbage_is_a_bad_request() -> None:
    assert wire.decode_token(wire.encode_token({"o": 20, "sel": "id"})) == {"o": 20, "sel": "id"}
    with pytest.raises(wire.QueryError):
        wire.decode_token("not-a-token")


def test_prefer_maxpagesize_sizes_delta_pages_within_bounds() -> None:
    assert wire.max_page_size('odata.maxpagesize=50, outlook.timezone="UTC"', 10) == 50
    assert wire.max_page_size(None, 10) == 10
    assert wire.max_page_size("odata.maxpagesize=5000", 10) == 1000
