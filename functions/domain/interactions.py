"""From one mailbox's metadata to storable interactions, and from stored interactions back to distinct
interactions.

Storage design these rules serve
--------------------------------
Ingestion reads one user's mailbox window and keeps an `Interaction` per (message or meeting, external
contact) in that user's slice. An interaction describes only what that mailbox shows and only its owner's
part: `user_role` is what the owner did (wrote or read an email; organised, attended or declined a meeting);
no other colleague is named. Hence:

- re-processing a window writes the same interactions under the same `record_key` (no double counting);
- deleting a user is deleting their slice: no other slice mentions them;
- insights for one contact are computed from the interactions of every included user about that contact,
  deduped by `key` (a message in three mailboxes counts once, a meeting once, per SPEC). An excluded user's
  interactions are dropped before anything is computed. A message between the contact and users A and B
  where A is excluded still counts through B's copy, but A's part (A's writing or reading time, A as a
  colleague) does not; if only excluded users hold a copy, the message does not exist for the insights.

Classification
--------------
An address is internal when it belongs to a tenant user (mail or UPN) or its domain is one of the tenant's
verified domains (exact match, as Entra verifies each subdomain on its own); anything else is external.
Drafts, cancelled meetings, messages without a sender, meetings without an organizer, and anything with no
external party yield no interactions. Resource attendees (rooms, equipment) are not people and are ignored.

`direction` is the side that wrote the email or organised the meeting: "sent" (ours) or "received" (the
customer side, whether or not the sender is this very contact). `at` is the send time of an email (the same
in every mailbox) or the start of a meeting. A meeting's `minutes` is its scheduled length, at most a working
day (`MAX_MEETING_MINUTES`), so an all-day event does not count as 24 hours of work.

Keys are 128-bit BLAKE2b digests of the internetMessageId / iCalUId (and of the conversationId), so stored
rows carry no readable identifiers. A message without an internetMessageId falls back to its mailbox-local
Graph ID: it still counts, it just cannot be deduped across mailboxes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, cast

from functions.domain.metadata import DirectoryUser, MeetingMeta, MessageMeta

Kind = Literal["email", "meeting"]
Direction = Literal["sent", "received"]
# email: author | reader; meeting: organizer | attendee | declined
Role = Literal["author", "reader", "organizer", "attendee", "declined"]

KINDS: frozenset[str] = frozenset(("email", "meeting"))
DIRECTIONS: frozenset[str] = frozenset(("sent", "received"))
ROLES: frozenset[str] = frozenset(("author", "reader", "organizer", "attendee", "declined"))
# When one user holds two interactions for the same key (a rescheduled meeting seen twice), the larger part
# wins.
ROLE_RANK: Mapping[str, int] = {"declined": 0, "reader": 1, "attendee": 1, "author": 2, "organizer": 2}

MAX_MEETING_MINUTES = 480.0
# Insights look at one year, the span ingestion backfills; older interactions in a slice are ignored.
WINDOW = timedelta(days=365)

HashContact = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class Interaction:
    """One email or meeting with one external contact, as one user's mailbox shows it (a slice row)."""

    key: str  # digest of internetMessageId / iCalUId: the same in every mailbox, the dedupe key
    kind: Kind
    user_id: str  # the mailbox owner, whose slice holds this interaction
    contact: str  # contact hash (functions.domain.contacts)
    at: datetime  # timezone-aware: email send time / meeting start
    direction: Direction  # "sent": our side wrote/organised it; "received": the customer side did
    user_role: Role  # the owner's part: author/reader, organizer/attendee/declined
    contact_role: Role  # the contact's part, same vocabulary
    conversation: str  # digest of the conversationId for emails; "" for meetings
    minutes: float  # meeting length (capped); 0 for emails
    # The contact's account (hashed domain, functions.domain.contacts.account_hash), so that a restore can
    # rebuild the account index; "" for rows written before accounts were kept.
    account: str = ""

    @property
    def record_key(self) -> str:
        """Unique within a user's slice; contact first so one contact's interactions are one key range."""
        return f"{self.contact}-{self.key}"

    @classmethod
    def validated(cls, record: Mapping[str, object]) -> Interaction:
        """An interaction from its fields by attribute name, checked: ValueError for anything that is not one
        (a corrupt or foreign stored row). The stored forms themselves are the adapters'
        (interaction_codec)."""
        try:
            at, minutes = record["at"], record["minutes"]
            text = {name: record[name] for name in _TEXT_FIELDS}
            text["account"] = record.get("account") or ""
        except KeyError as missing:
            raise ValueError(f"interaction record lacks {missing}") from None
        if not isinstance(at, datetime) or at.tzinfo is None:
            raise ValueError("interaction record: 'at' must be a timezone-aware datetime")
        if not isinstance(minutes, int | float) or isinstance(minutes, bool):
            raise ValueError("interaction record: 'minutes' must be a number")
        if not all(isinstance(value, str) for value in text.values()):
            raise ValueError("interaction record: text fields must be strings")
        fields = cast("dict[str, str]", text)
        if fields["kind"] not in KINDS or fields["direction"] not in DIRECTIONS:
            raise ValueError("interaction record: unknown kind or direction")
        if fields["user_role"] not in ROLES or fields["contact_role"] not in ROLES:
            raise ValueError("interaction record: unknown role")
        return cls(
            key=fields["key"],
            kind=cast("Kind", fields["kind"]),
            user_id=fields["user_id"],
            contact=fields["contact"],
            at=at,
            direction=cast("Direction", fields["direction"]),
            user_role=cast("Role", fields["user_role"]),
            contact_role=cast("Role", fields["contact_role"]),
            conversation=fields["conversation"],
            minutes=float(minutes),
            account=fields["account"],
        )


_TEXT_FIELDS = ("key", "kind", "user_id", "contact", "direction", "user_role", "contact_role", "conversation")


class Directory:
    """The tenant's own addresses and verified domains, precomputed for a fast internal/external test."""

    __slots__ = ("_addresses", "_cache", "_domains", "_own", "_users")

    def __init__(self, users: Iterable[DirectoryUser], verified_domains: Iterable[str]) -> None:
        self._users = {user.user_id: user for user in users}
        self._own = {
            user.user_id: frozenset(
                address.strip().lower() for address in (user.mail, user.user_principal_name) if address
            )
            for user in self._users.values()
        }
        self._addresses = frozenset().union(*self._own.values())
        self._domains = frozenset(domain.strip().lower() for domain in verified_domains if domain.strip())
        self._cache: dict[str, bool] = {}

    def is_internal(self, address: str) -> bool:
        known = self._cache.get(address)
        if known is None:
            lowered = address.strip().lower()
            known = lowered in self._addresses or lowered.rpartition("@")[2] in self._domains
            if len(self._cache) >= 100_000:  # memory stays flat however many addresses a tenant sees
                self._cache.clear()
            self._cache[address] = known
        return known

    def addresses_of(self, user_id: str) -> frozenset[str]:
        return self._own.get(user_id, frozenset())

    def user(self, user_id: str) -> DirectoryUser | None:
        return self._users.get(user_id)


def digest(namespace: str, value: str) -> str:
    """A 128-bit hex digest: plenty for dedupe keys within a tenant, and half the storage of SHA-256."""
    return hashlib.blake2b(f"{namespace}:{value}".encode(), digest_size=16).hexdigest()


def interactions_from_message(
    message: MessageMeta, directory: Directory, hash_contact: HashContact
) -> list[Interaction]:
    """The interactions one mailbox copy of a message gives: one per distinct external participant."""
    sender = message.sender
    if message.is_draft or not sender:
        return []
    is_internal = directory.is_internal
    sender_internal = is_internal(sender)
    contacts: dict[str, Role] = {}
    if not sender_internal:
        contacts[hash_contact(sender)] = "author"
    for group in (message.to, message.cc, message.bcc):
        for address in group:
            if address and address != sender and not is_internal(address):
                contacts.setdefault(hash_contact(address), "reader")
    if not contacts:
        return []
    user_id = message.mailbox_user_id
    direction: Direction = "sent" if sender_internal else "received"
    user_role: Role = "author" if sender in directory.addresses_of(user_id) else "reader"
    dedupe_id = message.internet_message_id or f"{user_id}/{message.message_id}"
    key = digest("email", dedupe_id)
    conversation = digest("conversation", message.conversation_id) if message.conversation_id else ""
    at = message.sent_at
    return [
        Interaction(key, "email", user_id, contact, at, direction, user_role, role, conversation, 0.0)
        for contact, role in contacts.items()
    ]


def interactions_from_meeting(
    meeting: MeetingMeta, directory: Directory, hash_contact: HashContact
) -> list[Interaction]:
    """The interactions one calendar copy of a meeting gives: one per distinct external participant."""
    organizer = meeting.organizer
    if meeting.is_cancelled or not organizer:
        return []
    is_internal = directory.is_internal
    organizer_internal = is_internal(organizer)
    own = directory.addresses_of(meeting.mailbox_user_id)
    # The event is in this calendar, so its owner takes part unless their own response says otherwise.
    user_role: Role = "organizer" if organizer in own else "attendee"
    contacts: dict[str, Role] = {}
    if not organizer_internal:
        contacts[hash_contact(organizer)] = "organizer"
    for attendee in meeting.attendees:
        address = attendee.address
        if not address or attendee.kind == "resource" or address == organizer:
            continue
        declined = attendee.response == "declined"
        if address in own:
            user_role = "declined" if declined else "attendee"
        elif not is_internal(address):
            contacts.setdefault(hash_contact(address), "declined" if declined else "attendee")
    if not contacts:
        return []
    direction: Direction = "sent" if organizer_internal else "received"
    minutes = min(max((meeting.end - meeting.start).total_seconds() / 60.0, 0.0), MAX_MEETING_MINUTES)
    key = digest("meeting", meeting.ical_uid or f"{meeting.mailbox_user_id}/{meeting.event_id}")
    user_id = meeting.mailbox_user_id
    return [
        Interaction(key, "meeting", user_id, contact, meeting.start, direction, user_role, role, "", minutes)
        for contact, role in contacts.items()
    ]


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One distinct email or meeting with the contact, merged over every included mailbox copy.

    `interaction` is a representative copy (the same for any order of the input); `participants` pairs each
    included user holding a copy with their part in it, sorted by user ID.
    """

    interaction: Interaction
    participants: tuple[tuple[str, Role], ...]


def distinct_interactions(
    interactions: Iterable[Interaction], now: datetime, excluded_users: frozenset[str]
) -> list[Occurrence]:
    """The contact's distinct interactions within `WINDOW` up to `now`, seen by included users only.

    Interactions of excluded users are dropped first, so nothing downstream can see them. Interactions after
    `now` (a meeting next week) have not happened yet and are ignored (`upcoming_meetings` reads those). All
    interactions must be about one contact: mixing contacts is a caller bug (ValueError), not something to
    average over. Sorted by (at, key).
    """
    earliest = now - WINDOW
    return _merged(interactions, excluded_users, lambda interaction: earliest < interaction.at <= now)


def upcoming_meetings(
    interactions: Iterable[Interaction], now: datetime, excluded_users: frozenset[str]
) -> list[Occurrence]:
    """The contact's distinct meetings starting after `now`, as included users' calendars show them.

    The same merging as `distinct_interactions` (one occurrence per meeting, excluded users dropped first,
    one contact only), sorted by (start, key). Whether anyone will actually attend is the caller's rule.
    """
    return _merged(
        interactions,
        excluded_users,
        lambda interaction: interaction.kind == "meeting" and interaction.at > now,
    )


def _merged(
    interactions: Iterable[Interaction], excluded_users: frozenset[str], wanted: Callable[[Interaction], bool]
) -> list[Occurrence]:
    groups: dict[str, list[Interaction]] = {}
    contact: str | None = None
    for interaction in interactions:
        if contact is None:
            contact = interaction.contact
        elif interaction.contact != contact:
            raise ValueError("insights are computed for one contact at a time")
        if interaction.user_id in excluded_users or not wanted(interaction):
            continue
        groups.setdefault(interaction.key, []).append(interaction)
    occurrences = []
    for copies in groups.values():
        if len(copies) == 1:  # the common case, kept cheap: reads must answer in milliseconds
            only = copies[0]
            occurrences.append(Occurrence(only, ((only.user_id, only.user_role),)))
            continue
        parts: dict[str, Role] = {}
        for copy in copies:
            previous = parts.get(copy.user_id)
            if previous is None or ROLE_RANK[copy.user_role] > ROLE_RANK[previous]:
                parts[copy.user_id] = copy.user_role
        occurrences.append(Occurrence(max(copies, key=_representative_rank), tuple(sorted(parts.items()))))
    occurrences.sort(key=lambda occurrence: (occurrence.interaction.at, occurrence.interaction.key))
    return occurrences


def _representative_rank(interaction: Interaction) -> tuple[datetime, str, str, str, float, str, str]:
    # Copies of one key agree in real data; if they do not (a meeting rescheduled between two windows),
    # the latest wins, and the remaining fields make the choice independent of the input order.
    return (
        interaction.at,
        interaction.direction,
        interaction.contact_role,
        interaction.conversation,
        interaction.minutes,
        interaction.user_role,
        interaction.user_id,
    )
