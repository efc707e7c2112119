"""Graph metadata, typed: what the Graph adapter yields and the interaction rules consume.

Only metadata, never bodies, subjects, previews or attachments. Addresses are lower-cased by the adapter.
These values live only in memory during ingestion; what is stored is derived from them (external contact
addresses as keyed hashes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class MessageMeta:
    """One message as seen in one mailbox (`mailbox_user_id`)."""

    mailbox_user_id: str
    message_id: str  # Graph ID in that mailbox
    internet_message_id: str  # the same across mailboxes: the dedupe key
    conversation_id: str
    sender: str  # lower-cased address ("" when Graph omits it)
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    sent_at: datetime
    received_at: datetime
    is_draft: bool = False


@dataclass(frozen=True, slots=True)
class Attendee:
    address: str  # lower-cased
    kind: str  # "required", "optional", "resource"
    response: str  # "none", "organizer", "accepted", "declined", "tentativelyAccepted", "notResponded"


@dataclass(frozen=True, slots=True)
class MeetingMeta:
    """One meeting as seen in one mailbox's calendar (`mailbox_user_id`)."""

    mailbox_user_id: str
    event_id: str  # Graph ID in that calendar
    ical_uid: str  # the same across calendars: the dedupe key
    organizer: str  # lower-cased address
    attendees: tuple[Attendee, ...]
    start: datetime
    end: datetime
    is_cancelled: bool = False


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    user_id: str  # Entra object ID
    display_name: str
    mail: str  # lower-cased primary address ("" when the user has no mailbox)
    user_principal_name: str
