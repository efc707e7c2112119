"""The demo's synthetic tenant as stored interactions, built in memory (no simulator process, no storage).

`make demo` serves a `graphsim` tenant of 24 people (seed 7, 150 contacts, 12 messages and 2 meetings per
user per month) and ingests one year of it. Here the same generator runs in-process and every mailbox and
calendar copy goes through the ingestion rules (`interactions_from_message` / `interactions_from_meeting`),
shaped as the Graph adapter shapes records (addresses lower-cased; only the sender's copy knows the bcc), so
the insight rules see what they see after the demo's ingestion.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from functions.domain.contacts import ContactHasher
from functions.domain.interactions import (
    WINDOW,
    Directory,
    Interaction,
    interactions_from_meeting,
    interactions_from_message,
)
from functions.domain.metadata import Attendee, DirectoryUser, MeetingMeta, MessageMeta
from graphsim.generate import DEFAULT_NOW, TenantSpec
from graphsim.model import EventCopy, MailCopy
from graphsim.tenant import Tenant

DEMO_SPEC = TenantSpec(
    seed=7, users=24, external_contacts=150, messages_per_user_per_month=12, meetings_per_user_per_month=2
)
HASH_KEY = b"demo-tenant-test-key"


@dataclass(frozen=True, slots=True)
class IngestedTenant:
    now: datetime
    directory: dict[str, DirectoryUser]  # user ID -> user, what who knows whom shows
    top_contacts: tuple[str, ...]  # addresses, heaviest first (the demo's "top contacts")
    interactions: dict[str, list[Interaction]]  # contact hash -> every user's interactions about that contact
    hash_contact: ContactHasher

    def interactions_of(self, address: str) -> list[Interaction]:
        return self.interactions.get(self.hash_contact(address.lower()), [])


def ingest_demo_tenant(now: datetime = DEFAULT_NOW, spec: TenantSpec = DEMO_SPEC) -> IngestedTenant:
    tenant = Tenant(TenantSpec(**{**_fields(spec), "now": now}))
    users = [
        DirectoryUser(u.id, u.display_name, (u.mail or "").lower(), u.user_principal_name)
        for u in tenant.users()
    ]
    directory = Directory(users, tenant.verified_domains)
    hasher = ContactHasher(HASH_KEY, tenant.tenant_id)
    start, end = now - WINDOW, now + timedelta(days=1)
    interactions: dict[str, list[Interaction]] = {}
    for user in tenant.users():
        if not user.mail:
            continue
        for mail in tenant.mail_copies(user.id, start, end):
            for interaction in interactions_from_message(_message(mail), directory, hasher):
                interactions.setdefault(interaction.contact, []).append(interaction)
        for event in tenant.event_copies(user.id, start, end):
            for interaction in interactions_from_meeting(_meeting(event), directory, hasher):
                interactions.setdefault(interaction.contact, []).append(interaction)
    return IngestedTenant(
        now=now,
        directory={user.user_id: user for user in users},
        top_contacts=tuple(contact.address for contact in tenant.contacts[:10]),
        interactions=interactions,
        hash_contact=hasher,
    )


def _fields(spec: TenantSpec) -> dict[str, object]:
    return {name: getattr(spec, name) for name in TenantSpec.__dataclass_fields__}


def _message(copy: MailCopy) -> MessageMeta:
    mail = copy.mail
    return MessageMeta(
        mailbox_user_id=copy.mailbox_user_id,
        message_id=copy.graph_id,
        internet_message_id=mail.internet_message_id,
        conversation_id=mail.conversation_id,
        sender=mail.sender.address.lower(),
        to=tuple(a.address.lower() for a in mail.to),
        cc=tuple(a.address.lower() for a in mail.cc),
        bcc=tuple(a.address.lower() for a in mail.bcc) if copy.is_sender_copy else (),
        sent_at=mail.sent_at,
        received_at=copy.received_at,
        is_draft=mail.is_draft,
    )


def _meeting(copy: EventCopy) -> MeetingMeta:
    meeting = copy.meeting
    return MeetingMeta(
        mailbox_user_id=copy.mailbox_user_id,
        event_id=copy.graph_id,
        ical_uid=meeting.ical_uid,
        organizer=meeting.organizer.address.lower(),
        attendees=tuple(Attendee(a.who.address.lower(), a.kind, a.response) for a in meeting.attendees),
        start=meeting.start,
        end=meeting.end,
        is_cancelled=meeting.is_cancelled,
    )
