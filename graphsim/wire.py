"""Graph's wire format: JSON shapes of users, messages and events, OData query options, error bodies.

Only what the app's adapter and the tests exercise, but in Graph's exact spelling (camelCase, absolute
`@odata.nextLink`, `{"error": {"code", "message"}}`), so the adapter cannot tell the simulator from Graph.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from graphsim.model import Address, EventCopy, MailCopy, User

JsonObject = dict[str, Any]


class QueryError(Exception):
    """A request Graph would refuse; rendered as a Graph error body with `status`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_body(code: str, message: str) -> JsonObject:
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": str(uuid.uuid4()),
                "client-request-id": str(uuid.uuid4()),
            },
        }
    }


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _email(a: Address) -> JsonObject:
    return {"emailAddress": {"name": a.name, "address": a.address}}


def user_json(u: User) -> JsonObject:
    return {
        "@odata.type": "#microsoft.graph.user",
        "id": u.id,
        "displayName": u.display_name,
        "givenName": u.display_name.split(" ", 1)[0],
        "surname": u.display_name.split(" ", 1)[-1],
        "mail": u.mail,
        "userPrincipalName": u.user_principal_name,
        "jobTitle": None,
        "businessPhones": [],
        "accountEnabled": True,
    }


def domain_json(name: str, *, is_default: bool) -> JsonObject:
    return {"id": name, "authenticationType": "Managed", "isDefault": is_default, "isVerified": True}


def etag(item_id: str) -> str:
    """The item's weak ETag, the same in listings and in change notifications."""
    return f'W/"{item_id[-16:]}"'


def message_json(c: MailCopy) -> JsonObject:
    m = c.mail
    return {
        "@odata.etag": etag(c.graph_id),
        "id": c.graph_id,
        "createdDateTime": iso(m.sent_at),
        "lastModifiedDateTime": iso(c.received_at),
        "receivedDateTime": iso(c.received_at),
        "sentDateTime": iso(m.sent_at),
        "hasAttachments": False,
        "internetMessageId": m.internet_message_id,
        "subject": m.subject,
        "bodyPreview": f"Hello, about {m.subject.lower()} ...",
        "importance": "normal",
        "parentFolderId": "AQMkSentItems" if c.is_sender_copy else "AQMkInbox",
        "conversationId": m.conversation_id,
        "isRead": c.is_sender_copy,
        "isDraft": m.is_draft,
        "body": {"contentType": "html", "content": f"<html><body>About {m.subject}</body></html>"},
        "sender": _email(m.sender),
        "from": _email(m.sender),
        "toRecipients": [_email(a) for a in m.to],
        "ccRecipients": [_email(a) for a in m.cc],
        # Only the sender's copy knows who was bcc'd, as in Exchange.
        "bccRecipients": [_email(a) for a in m.bcc] if c.is_sender_copy else [],
        "replyTo": [],
    }


def _event_time(instant: datetime) -> JsonObject:
    return {"dateTime": instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}


def event_json(c: EventCopy) -> JsonObject:
    m = c.meeting
    return {
        "@odata.etag": etag(c.graph_id),
        "id": c.graph_id,
        "iCalUId": m.ical_uid,
        "subject": m.subject,
        "bodyPreview": f"Agenda: {m.subject}",
        "isCancelled": m.is_cancelled,
        "isOrganizer": c.is_organizer,
        "type": "singleInstance",
        "start": _event_time(m.start),
        "end": _event_time(m.end),
        "location": {"displayName": "Microsoft Teams Meeting"},
        "organizer": _email(m.organizer),
        "attendees": [
            {
                "type": a.kind,
                "status": {"response": a.response, "time": "0001-01-01T00:00:00Z"},
                "emailAddress": {"name": a.who.name, "address": a.who.address},
            }
            for a in m.attendees
        ],
    }


def select(obj: JsonObject, fields: list[str] | None) -> JsonObject:
    """Apply `$select`: Graph always returns `id` and the OData annotations."""
    if not fields:
        return obj
    wanted = {f.lower() for f in fields} | {"id"}
    return {k: v for k, v in obj.items() if k.lower() in wanted or k.startswith("@odata.")}


def select_fields(query: dict[str, str]) -> list[str] | None:
    raw = query.get("$select")
    return [f.strip() for f in raw.split(",") if f.strip()] if raw else None


def top(query: dict[str, str], default: int, maximum: int) -> int:
    raw = query.get("$top")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise QueryError(400, "ErrorInvalidUrlQuery", f"The value of $top must be between 1 and {maximum}.")
    return int(raw)


def skip(query: dict[str, str]) -> int:
    raw = query.get("$skip", "0")
    if not raw.isdigit():
        raise QueryError(400, "ErrorInvalidUrlQuery", "The value of $skip is not a number.")
    return int(raw)


def instant(text: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.strip("'"))
    except ValueError:
        raise QueryError(400, "ErrorInvalidParameter", f"'{name}' is not a valid date: {text}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


_CLAUSE = re.compile(r"^\s*(\w+)\s+(ge|gt|le|lt)\s+(\S+)\s*$", re.IGNORECASE)
_ONE_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Window:
    """A receivedDateTime range [start, end) from `$filter`, and the property the filter names first."""

    start: datetime | None
    end: datetime | None
    first_property: str | None


def received_window(query: dict[str, str]) -> Window:
    raw = query.get("$filter")
    if not raw:
        return Window(None, None, None)
    start: datetime | None = None
    end: datetime | None = None
    first: str | None = None
    for clause in re.split(r"\s+and\s+", raw.strip(), flags=re.IGNORECASE):
        match = _CLAUSE.match(clause)
        if not match or match.group(1).lower() != "receiveddatetime":
            raise QueryError(400, "BadRequest", f"Invalid filter clause: {clause}")
        first = first or match.group(1)
        op, at = match.group(2).lower(), instant(match.group(3), "receivedDateTime")
        if op in ("ge", "gt"):
            start = at + _ONE_TICK if op == "gt" else at
        else:
            end = at + _ONE_TICK if op == "le" else at
    return Window(start, end, first)


def descending(query: dict[str, str], window: Window) -> bool:
    """`$orderby receivedDateTime [asc|desc]`; Graph's default for messages is newest first."""
    raw = query.get("$orderby")
    if not raw:
        return True
    parts = raw.split()
    if parts[0].lower() != "receiveddatetime" or len(parts) > 2:
        raise QueryError(400, "BadRequest", f"Unsupported $orderby: {raw}")
    if window.first_property is not None and window.first_property.lower() != parts[0].lower():
        raise QueryError(
            400, "InefficientFilter", "The restriction or sort order is too complex for this operation."
        )
    return len(parts) == 1 or parts[1].lower() == "desc"


def encode_token(state: JsonObject) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_token(token: str) -> JsonObject:
    try:
        state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:
        raise QueryError(400, "BadRequest", "The skip or delta token is not valid.") from None
    if not isinstance(state, dict):
        raise QueryError(400, "BadRequest", "The skip or delta token is not valid.")
    return state


def max_page_size(prefer: str | None, default: int) -> int:
    """`Prefer: odata.maxpagesize=N`, how Graph sizes delta pages."""
    match = re.search(r"odata\.maxpagesize=(\d+)", prefer or "")
    return min(max(int(match.group(1)), 1), 1000) if match else default
