"""The synthetic tenant's value types: directory objects, mails and meetings as the organisation sees them.

A `Mail` is one sent message; Graph shows it once per internal participant's mailbox (each copy with its
own Graph ID, the same `internetMessageId`). A `Meeting` is one calendar event; Graph shows it once per
internal attendee's calendar (the same `iCalUId`). `graphsim.wire` renders both in Graph's JSON shape.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Address:
    name: str
    address: str  # as a mail client would write it: case is not normalised on purpose


@dataclass(frozen=True, slots=True)
class User:
    id: str
    display_name: str
    mail: str | None  # None: the account has no mailbox (Graph answers 404 for its messages)
    user_principal_name: str

    @property
    def address(self) -> Address:
        return Address(self.display_name, self.mail or self.user_principal_name)


@dataclass(frozen=True, slots=True)
class Contact:
    """An external person; `rank` 0 is the heaviest contact of the tenant (Zipf-like weights)."""

    rank: int
    name: str
    address: str


@dataclass(frozen=True, slots=True)
class Group:
    id: str
    display_name: str


@dataclass(frozen=True, slots=True)
class Mail:
    internet_message_id: str
    conversation_id: str
    subject: str
    sender: Address
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    sent_at: datetime
    is_draft: bool = False
    seq: int = 0  # 0: part of the generated history; >0: added at run time (what delta reports)


@dataclass(frozen=True, slots=True)
class Attendance:
    who: Address
    kind: str  # required | optional | resource
    response: str  # none | organizer | accepted | declined | tentativelyAccepted | notResponded


@dataclass(frozen=True, slots=True)
class Meeting:
    ical_uid: str
    subject: str
    organizer: Address
    attendees: tuple[Attendance, ...]
    start: datetime
    end: datetime
    is_cancelled: bool


@dataclass(frozen=True, slots=True)
class MailCopy:
    """`mail` as it sits in one mailbox."""

    mailbox_user_id: str
    mail: Mail
    received_at: datetime
    is_sender_copy: bool

    @property
    def graph_id(self) -> str:
        return graph_id("AAMkAG", self.mailbox_user_id, self.mail.internet_message_id)


@dataclass(frozen=True, slots=True)
class EventCopy:
    mailbox_user_id: str
    meeting: Meeting
    is_organizer: bool

    @property
    def graph_id(self) -> str:
        return graph_id("AAMkAE", self.mailbox_user_id, self.meeting.ical_uid)


def graph_id(prefix: str, mailbox: str, key: str) -> str:
    """A stable, mailbox-specific item ID shaped like Exchange's (opaque base64-ish text)."""
    digest = hashlib.blake2b(f"{mailbox}|{key}".encode(), digest_size=24).hexdigest()
    return prefix + digest.upper()
