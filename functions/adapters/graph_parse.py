"""The fast path: raw Graph pages (bytes) to records, with `json.loads` and tight loops.

The SDK's generated models deserialize about 150 messages a second; these functions do tens of thousands,
so bulk listings read raw bytes through the SDK's request adapter and parse here. Every function returns
the records of one page and the page's `@odata.nextLink` (absolute URL) or None on the last page.

Tolerant where Graph legitimately omits things (no sender on a draft, null recipient lists, no
internetMessageId), strict where a record would be meaningless (no id, no receivedDateTime, a page that is
not JSON): those raise `GraphMalformedResponse`, so the window fails loudly and is retried. The error names
the field and what is wrong with it (`message.receivedDateTime is not an ISO 8601 date-time`), never the
value: a field can hold anything a mailbox holds, an address included, and the error's text reaches the
log. The loops note the field they are reading in a local variable (a store per field, nothing on the
fast path) so that the handler can say which one failed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from functions.domain.errors import GraphMalformedResponse, ParseProblem
from functions.domain.metadata import Attendee, DirectoryUser, MeetingMeta, MessageMeta

# What `messages` asks for: metadata only (Mail.ReadBasic.All), never body, subject, preview or attachments.
MESSAGE_FIELDS = (
    "id",
    "internetMessageId",
    "conversationId",
    "from",
    "sender",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "sentDateTime",
    "receivedDateTime",
    "isDraft",
)
EVENT_FIELDS = ("id", "iCalUId", "organizer", "attendees", "start", "end", "isCancelled")
USER_FIELDS = ("id", "displayName", "mail", "userPrincipalName")

_fromiso = datetime.fromisoformat
_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Coordinated Universal Time", "tzone://Microsoft/Utc"})


def _body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, TypeError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise GraphMalformedResponse(f"Graph page is not JSON: {e}") from None
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        raise GraphMalformedResponse("Graph page has no 'value' list")
    return body


def _link(body: dict[str, Any], name: str) -> str | None:
    link = body.get(name)
    return link if isinstance(link, str) and link else None


def _page(raw: bytes) -> tuple[list[Any], str | None]:
    body = _body(raw)
    return body["value"], _link(body, "@odata.nextLink")


def _address(entry: Any) -> str:
    try:
        address = entry["emailAddress"]["address"]
    except (KeyError, TypeError):
        return ""
    return address.lower() if isinstance(address, str) else ""


def _addresses(entries: Any) -> tuple[str, ...]:
    if not entries:
        return ()
    out = []
    for entry in entries:
        address = _address(entry)
        if address:
            out.append(address)
    return tuple(out)


def _instant(text: str) -> datetime:
    parsed = _fromiso(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _messages(values: list[Any], mailbox_user_id: str) -> list[MessageMeta]:
    out: list[MessageMeta] = []
    append = out.append
    m: Any = None
    field = "message"
    try:
        for m in values:
            field = "message"
            if "@removed" in m:
                continue
            field = "message.receivedDateTime"
            received = _instant(m["receivedDateTime"])
            field = "message.sentDateTime"
            sent_text = m.get("sentDateTime")
            sent = _instant(sent_text) if sent_text else received
            field = "message.id"
            message_id = m["id"]
            field = "message.toRecipients"
            to = _addresses(m.get("toRecipients"))
            field = "message.ccRecipients"
            cc = _addresses(m.get("ccRecipients"))
            field = "message.bccRecipients"
            bcc = _addresses(m.get("bccRecipients"))
            field = "message"
            append(
                MessageMeta(
                    mailbox_user_id,
                    message_id,
                    # Without an internetMessageId the Graph ID is the only safe key: "" would merge
                    # unrelated messages into one.
                    m.get("internetMessageId") or message_id,
                    m.get("conversationId") or "",
                    _address(m.get("from")) or _address(m.get("sender")),
                    to,
                    cc,
                    bcc,
                    sent,
                    received,
                    m.get("isDraft") is True,
                )
            )
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise _unreadable("message", m, field, e) from None
    return out


def _unreadable(kind: str, record: Any, field: str, error: Exception) -> GraphMalformedResponse:
    """The error of a record the fast path could not read: `field` and what is wrong with it, never a value
    (the exception's own text is dropped: `fromisoformat`'s, for one, quotes the string it refused)."""
    problem: ParseProblem
    if not isinstance(record, dict):
        field, problem = kind, "has the wrong JSON type"
    elif isinstance(error, KeyError):
        problem = "is missing"
    elif isinstance(error, ValueError):
        problem = "is not an ISO 8601 date-time" if field.endswith("ateTime") else "is not valid"
    else:
        problem = "has the wrong JSON type"
    return _malformed(kind, field, problem)


def _malformed(kind: str, field: str, problem: ParseProblem) -> GraphMalformedResponse:
    return GraphMalformedResponse(
        f"unreadable {kind} in Graph page: {field} {problem}", field=field, problem=problem
    )


def parse_messages_page(raw: bytes, mailbox_user_id: str) -> tuple[list[MessageMeta], str | None]:
    """One page of `/users/{id}/messages` as records of mailbox `mailbox_user_id`, and the next link."""
    values, link = _page(raw)
    return _messages(values, mailbox_user_id), link


@dataclass(frozen=True, slots=True)
class DeltaPage:
    messages: list[MessageMeta]
    removed_ids: list[str]  # Graph IDs reported as `@removed` (deleted or moved out of the folder)
    next_link: str | None
    delta_link: str | None  # only on the last page of a round


def parse_delta_page(raw: bytes, mailbox_user_id: str) -> DeltaPage:
    """One page of `messages/delta()`: changed messages, removed IDs, and the next or the delta link."""
    body = _body(raw)
    values = body["value"]
    next_link, delta_link = _link(body, "@odata.nextLink"), _link(body, "@odata.deltaLink")
    if next_link is None and delta_link is None:
        raise GraphMalformedResponse("delta page has neither a nextLink nor a deltaLink")
    removed: list[str] = []
    v: Any = None
    try:
        for v in values:
            if "@removed" in v:
                removed.append(v["id"])
    except (KeyError, TypeError) as e:
        raise _unreadable("message", v, "message.id", e) from None
    return DeltaPage(_messages(values, mailbox_user_id), removed, next_link, delta_link)


def _event_instant(value: Any, field: str) -> datetime:
    """`{"dateTime": "2025-01-02T10:00:00.0000000", "timeZone": "UTC"}` at `field` (`event.start`); we ask for
    UTC, but convert an IANA zone too rather than misread it."""
    if not isinstance(value, dict):
        raise _malformed("event", field, "has the wrong JSON type")
    text = value.get("dateTime")
    if not isinstance(text, str):
        problem: ParseProblem = "is missing" if text is None else "has the wrong JSON type"
        raise _malformed("event", f"{field}.dateTime", problem)
    try:
        parsed = _fromiso(text)
    except ValueError:
        raise _malformed("event", f"{field}.dateTime", "is not an ISO 8601 date-time") from None
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    zone = value.get("timeZone") or "UTC"
    if not isinstance(zone, str):
        raise _malformed("event", f"{field}.timeZone", "has the wrong JSON type")
    if zone in _UTC_NAMES:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a key naming a directory ("America")
        raise _malformed("event", f"{field}.timeZone", "is not a known time zone") from None


def parse_events_page(raw: bytes, mailbox_user_id: str) -> tuple[list[MeetingMeta], str | None]:
    """One page of `/users/{id}/calendarView` as records of calendar `mailbox_user_id`, and the next link."""
    values, link = _page(raw)
    out: list[MeetingMeta] = []
    e: Any = None
    field = "event"
    try:
        for e in values:
            field = "event.attendees"
            attendees = []
            for a in e.get("attendees") or ():
                address = _address(a)
                if address:
                    status = a.get("status") or {}
                    attendees.append(
                        Attendee(address, a.get("type") or "required", status.get("response") or "none")
                    )
            field = "event.id"
            event_id = e["id"]
            field = "event.start"
            start = _event_instant(e["start"], field)
            field = "event.end"
            end = _event_instant(e["end"], field)
            field = "event"
            out.append(
                MeetingMeta(
                    mailbox_user_id,
                    event_id,
                    e.get("iCalUId") or event_id,
                    _address(e.get("organizer")),
                    tuple(attendees),
                    start,
                    end,
                    e.get("isCancelled") is True,
                )
            )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise _unreadable("event", e, field, error) from None
    return out, link


def parse_users_page(raw: bytes) -> tuple[list[DirectoryUser], str | None]:
    """One page of `/users` (or of a group's user members) as directory users, and the next link."""
    values, link = _page(raw)
    users: list[DirectoryUser] = []
    u: Any = None
    field = "user"
    try:
        for u in values:
            field = "user.id"
            user_id = u["id"]
            field = "user.mail"
            mail = (u.get("mail") or "").lower()
            field = "user"
            users.append(
                DirectoryUser(user_id, u.get("displayName") or "", mail, u.get("userPrincipalName") or "")
            )
    except (KeyError, TypeError, AttributeError) as e:
        raise _unreadable("user", u, field, e) from None
    return users, link


def parse_ids_page(raw: bytes) -> tuple[list[str], str | None]:
    """One page of directory objects reduced to their IDs, and the next link."""
    values, link = _page(raw)
    ids: list[str] = []
    v: Any = None
    try:
        for v in values:
            ids.append(v["id"])
    except (KeyError, TypeError) as e:
        raise _unreadable("directoryObject", v, "directoryObject.id", e) from None
    return ids, link


def parse_domains(raw: bytes) -> list[str]:
    """The verified domain names of `/domains` (lower-cased)."""
    values, _ = _page(raw)
    domains: list[str] = []
    d: Any = None
    try:
        for d in values:
            if d.get("isVerified", True):
                domains.append(d["id"].lower())
    except (KeyError, TypeError, AttributeError) as e:
        raise _unreadable("domain", d, "domain.id", e) from None
    return domains
