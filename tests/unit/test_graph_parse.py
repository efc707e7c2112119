"""The fast parse path: hand-made Graph pages in, records and next links out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.adapters.graph_parse import (
    parse_delta_page,
    parse_domains,
    parse_events_page,
    parse_ids_page,
    parse_messages_page,
    parse_users_page,
)
from functions.domain.errors import GraphMalformedResponse
from functions.domain.metadata import Attendee

MAILBOX = "5f3c7c1e-8d0e-4d7a-9b1a-3f6a2a1e0b11"
NEXT = "https://graph.microsoft.com/v1.0/users/x/messages?$skip=10"


def page(values: list[dict[str, Any]], **links: str) -> bytes:
    return json.dumps({"value": values, **{f"@odata.{k}": v for k, v in links.items()}}).encode()


def who(address: str, name: str = "Someone") -> dict[str, Any]:
    return {"emailAddress": {"name": name, "address": address}}


FULL_MESSAGE = {
    "id": "AAMkAD1",
    "internetMessageId": "<abc@fabrikam.com>",
    "conversationId": "AAQk1",
    "from": who("Pat.Doe@Fabrikam.com"),
    "sender": who("assistant@fabrikam.com"),
    "toRecipients": [who("Adele.Vance@Contoso.com"), who("lee@contoso.com")],
    "ccRecipients": [who("CC@fabrikam.com")],
    "bccRecipients": [],
    "sentDateTime": "2026-03-02T10:00:00Z",
    "receivedDateTime": "2026-03-02T10:00:05Z",
    "isDraft": False,
}


def test_a_full_message_becomes_a_record_with_lower_cased_addresses() -> None:
    (message,), link = parse_messages_page(page([FULL_MESSAGE], nextLink=NEXT), MAILBOX)
    assert link == NEXT
    assert message.mailbox_user_id == MAILBOX
    assert message.message_id == "AAMkAD1"
    assert message.internet_message_id == "<abc@fabrikam.com>"
    assert message.conversation_id == "AAQk1"
    assert message.sender == "pat.doe@fabrikam.com"  # `from` wins over `sender` (on-behalf-of)
    assert message.to == ("adele.vance@contoso.com", "lee@contoso.com")
    assert message.cc == ("cc@fabrikam.com",)
    assert message.bcc == ()
    assert message.sent_at == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert message.received_at == datetime(2026, 3, 2, 10, 0, 5, tzinfo=UTC)
    assert message.is_draft is False


def test_the_last_page_has_no_next_link() -> None:
    assert parse_messages_page(page([FULL_MESSAGE]), MAILBOX)[1] is None


def test_an_empty_page_gives_no_records() -> None:
    assert parse_messages_page(page([]), MAILBOX) == ([], None)


def test_a_draft_without_sender_recipients_or_ids_is_read_with_safe_defaults() -> None:
    draft = {
        "id": "AAMkDraft",
        "receivedDateTime": "2026-03-02T10:00:00Z",
        "isDraft": True,
        "toRecipients": None,
        "from": None,
    }
    (message,), _ = parse_messages_page(page([draft]), MAILBOX)
    assert message.sender == ""
    assert message.to == message.cc == message.bcc == ()
    assert message.sent_at == message.received_at
    assert message.is_draft is True
    assert message.internet_message_id == "AAMkDraft"  # never "" (that would merge unrelated messages)
    assert message.conversation_id == ""


def test_sender_is_used_when_from_is_missing() -> None:
    message = {**FULL_MESSAGE}
    del message["from"]
    (parsed,), _ = parse_messages_page(page([message]), MAILBOX)
    assert parsed.sender == "assistant@fabrikam.com"


def test_recipients_without_an_address_are_skipped() -> None:
    message = {
        **FULL_MESSAGE,
        "toRecipients": [{"emailAddress": {"name": "No address"}}, who("ok@contoso.com")],
    }
    (parsed,), _ = parse_messages_page(page([message]), MAILBOX)
    assert parsed.to == ("ok@contoso.com",)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"value": [{"id": "AAMk',  # cut short mid-stream
        b"<html>Bad gateway</html>",
        b"\xff\xfe\x00",  # not UTF-8
        b'{"error": {"code": "x"}}',  # JSON, but not a page
        b'{"value": {"id": "1"}}',
        b"[]",
    ],
)
def test_an_unreadable_page_is_malformed(raw: bytes) -> None:
    with pytest.raises(GraphMalformedResponse):
        parse_messages_page(raw, MAILBOX)


@pytest.mark.parametrize("missing", ["id", "receivedDateTime"])
def test_a_message_without_id_or_received_time_is_malformed(missing: str) -> None:
    message = {k: v for k, v in FULL_MESSAGE.items() if k != missing}
    with pytest.raises(GraphMalformedResponse):
        parse_messages_page(page([message]), MAILBOX)


def test_a_message_with_an_unparseable_time_is_malformed() -> None:
    with pytest.raises(GraphMalformedResponse):
        parse_messages_page(page([{**FULL_MESSAGE, "sentDateTime": "yesterday"}]), MAILBOX)


def test_a_delta_page_separates_changes_from_removals_and_carries_the_delta_link() -> None:
    removed = {"id": "AAMkGone", "@removed": {"reason": "deleted"}}
    result = parse_delta_page(
        page([FULL_MESSAGE, removed], deltaLink="https://g/delta?$deltatoken=1"), MAILBOX
    )
    assert [m.message_id for m in result.messages] == ["AAMkAD1"]
    assert result.removed_ids == ["AAMkGone"]
    assert result.next_link is None
    assert result.delta_link == "https://g/delta?$deltatoken=1"


def test_a_delta_page_without_next_or_delta_link_is_malformed() -> None:
    with pytest.raises(GraphMalformedResponse):
        parse_delta_page(page([FULL_MESSAGE]), MAILBOX)


EVENT = {
    "id": "AAMkEv1",
    "iCalUId": "040000008200E00074C5B7101A82E008AB",
    "organizer": who("Pat.Doe@Fabrikam.com"),
    "attendees": [
        {"type": "required", "status": {"response": "accepted"}, **who("Adele.Vance@contoso.com")},
        {"type": "optional", "status": None, **who("lee@contoso.com")},
        {"type": "resource", **who("")},
    ],
    "start": {"dateTime": "2026-03-02T10:00:00.0000000", "timeZone": "UTC"},
    "end": {"dateTime": "2026-03-02T10:30:00.0000000", "timeZone": "UTC"},
    "isCancelled": True,
}


def test_an_event_becomes_a_meeting_record_in_utc() -> None:
    (meeting,), link = parse_events_page(page([EVENT], nextLink=NEXT), MAILBOX)
    assert link == NEXT
    assert meeting.event_id == "AAMkEv1"
    assert meeting.ical_uid == EVENT["iCalUId"]
    assert meeting.organizer == "pat.doe@fabrikam.com"
    assert meeting.attendees == (
        Attendee("adele.vance@contoso.com", "required", "accepted"),
        Attendee("lee@contoso.com", "optional", "none"),
    )
    assert meeting.start == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert meeting.end == datetime(2026, 3, 2, 10, 30, tzinfo=UTC)
    assert meeting.is_cancelled is True


def test_an_event_in_an_iana_zone_is_converted_to_utc() -> None:
    event = {**EVENT, "start": {"dateTime": "2026-07-01T10:00:00", "timeZone": "Europe/Paris"}}
    (meeting,), _ = parse_events_page(page([event]), MAILBOX)
    assert meeting.start == datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


def test_an_event_in_an_unknown_zone_is_malformed() -> None:
    event = {**EVENT, "start": {"dateTime": "2026-07-01T10:00:00", "timeZone": "Mars Standard Time"}}
    with pytest.raises(GraphMalformedResponse):
        parse_events_page(page([event]), MAILBOX)


def test_an_event_without_times_is_malformed() -> None:
    with pytest.raises(GraphMalformedResponse):
        parse_events_page(page([{k: v for k, v in EVENT.items() if k != "start"}]), MAILBOX)


# An address where a time or a zone belongs: what the error says ends up in the cursor, the audit log and the
# host log, so it names the field and what is wrong with it, never what the field holds.
ADDRESS = "x@y.com"


@pytest.mark.parametrize("field", ["receivedDateTime", "sentDateTime"])
def test_a_message_time_holding_an_address_is_malformed_naming_the_field_not_the_value(field: str) -> None:
    with pytest.raises(GraphMalformedResponse) as raised:
        parse_messages_page(page([{**FULL_MESSAGE, field: ADDRESS}]), MAILBOX)
    assert ADDRESS not in str(raised.value)
    assert (raised.value.field, raised.value.problem) == (f"message.{field}", "is not an ISO 8601 date-time")
    assert f"message.{field}" in str(raised.value)


@pytest.mark.parametrize("end", ["start", "end"])
@pytest.mark.parametrize(
    ("key", "problem"),
    [("dateTime", "is not an ISO 8601 date-time"), ("timeZone", "is not a known time zone")],
)
def test_an_event_time_or_zone_holding_an_address_is_malformed_naming_the_field_not_the_value(
    end: str, key: str, problem: str
) -> None:
    event = {**EVENT, end: {**EVENT[end], key: ADDRESS}}  # type: ignore[dict-item]
    with pytest.raises(GraphMalformedResponse) as raised:
        parse_events_page(page([event]), MAILBOX)
    assert ADDRESS not in str(raised.value)
    assert (raised.value.field, raised.value.problem) == (f"event.{end}.{key}", problem)


@pytest.mark.parametrize(
    ("entry", "field", "problem"),
    [
        ({k: v for k, v in FULL_MESSAGE.items() if k != "id"}, "message.id", "is missing"),
        (
            {**FULL_MESSAGE, "receivedDateTime": 20260302},
            "message.receivedDateTime",
            "has the wrong JSON type",
        ),
        ([ADDRESS], "message", "has the wrong JSON type"),
    ],
)
def test_a_malformed_message_names_what_is_wrong_with_which_field(
    entry: Any, field: str, problem: str
) -> None:
    with pytest.raises(GraphMalformedResponse) as raised:
        parse_messages_page(page([entry]), MAILBOX)
    assert (raised.value.field, raised.value.problem) == (field, problem)
    assert ADDRESS not in str(raised.value)


@pytest.mark.parametrize(
    ("parse", "entry", "field", "problem"),
    [
        (parse_users_page, {"mail": ADDRESS}, "user.id", "is missing"),
        (parse_users_page, {"id": "u1", "mail": [ADDRESS]}, "user.mail", "has the wrong JSON type"),
        (parse_ids_page, {"mail": ADDRESS}, "directoryObject.id", "is missing"),
        (parse_domains, {"isVerified": True}, "domain.id", "is missing"),
        (parse_domains, ADDRESS, "domain", "has the wrong JSON type"),
        (lambda raw: parse_delta_page(raw, MAILBOX), {"@removed": {}}, "message.id", "is missing"),
    ],
)
def test_a_malformed_directory_entry_names_what_is_wrong_with_which_field(
    parse: Any, entry: Any, field: str, problem: str
) -> None:
    with pytest.raises(GraphMalformedResponse) as raised:
        parse(page([entry], deltaLink="https://g/delta"))
    assert (raised.value.field, raised.value.problem) == (field, problem)


@pytest.mark.parametrize(
    ("parse", "entry"),
    [
        (parse_users_page, {"displayName": "Secret Person", "mail": ADDRESS}),
        (parse_users_page, ADDRESS),
        (parse_ids_page, {"mail": ADDRESS}),
        (parse_domains, ADDRESS),
        (parse_domains, {"id": ["x.y.com"], "isVerified": True}),
        (lambda raw: parse_delta_page(raw, MAILBOX), ADDRESS),
    ],
)
def test_no_malformed_directory_entry_is_quoted_in_the_error(parse: Any, entry: Any) -> None:
    with pytest.raises(GraphMalformedResponse) as raised:
        parse(page([entry], deltaLink="https://g/delta"))
    assert not {ADDRESS, "Secret Person", "x.y.com"} & set(str(raised.value).split())
    assert ADDRESS not in str(raised.value)


def test_users_are_read_with_lower_cased_mail_and_empty_mail_for_mailboxless_accounts() -> None:
    users, link = parse_users_page(
        page(
            [
                {
                    "id": "u1",
                    "displayName": "Adele Vance",
                    "mail": "Adele.Vance@Contoso.com",
                    "userPrincipalName": "Adele.Vance@contoso.com",
                },
                {"id": "u2", "displayName": None, "mail": None, "userPrincipalName": "svc@contoso.com"},
            ],
            nextLink=NEXT,
        )
    )
    assert link == NEXT
    assert [(u.user_id, u.display_name, u.mail) for u in users] == [
        ("u1", "Adele Vance", "adele.vance@contoso.com"),
        ("u2", "", ""),
    ]
    assert users[0].user_principal_name == "Adele.Vance@contoso.com"


def test_directory_objects_reduce_to_their_ids() -> None:
    assert parse_ids_page(page([{"id": "a"}, {"id": "b"}])) == (["a", "b"], None)
    with pytest.raises(GraphMalformedResponse):
        parse_ids_page(page([{"displayName": "no id"}]))


def test_only_verified_domains_are_listed_lower_cased() -> None:
    raw = page(
        [{"id": "Contoso.com", "isVerified": True}, {"id": "pending.contoso.com", "isVerified": False}]
    )
    assert parse_domains(raw) == ["contoso.com"]
