"""From mailbox metadata to stored interactions, and back to distinct interactions (interactions.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from functions.domain.contacts import ContactHasher
from functions.domain.interactions import (
    MAX_MEETING_MINUTES,
    Directory,
    distinct_interactions,
    interactions_from_meeting,
    interactions_from_message,
)
from functions.domain.metadata import Attendee, DirectoryUser, MeetingMeta, MessageMeta

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SENT = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
ALICE = DirectoryUser("alice-id", "Alice Archer", "alice@contoso.com", "alice@contoso.onmicrosoft.com")
BOB = DirectoryUser("bob-id", "Bob Baker", "bob@contoso.com", "bob@contoso.onmicrosoft.com")
DIRECTORY = Directory([ALICE, BOB], ["contoso.com", "contoso.onmicrosoft.com"])
HASH = ContactHasher(b"key", "tenant")


def message(
    *,
    mailbox: str = ALICE.user_id,
    sender: str = "ann@fabrikam.com",
    to: tuple[str, ...] = ("alice@contoso.com",),
    cc: tuple[str, ...] = (),
    bcc: tuple[str, ...] = (),
    internet_message_id: str = "<m1@fabrikam.com>",
    is_draft: bool = False,
) -> MessageMeta:
    return MessageMeta(
        mailbox_user_id=mailbox,
        message_id=f"graph-{mailbox}",
        internet_message_id=internet_message_id,
        conversation_id="conv-1",
        sender=sender,
        to=to,
        cc=cc,
        bcc=bcc,
        sent_at=SENT,
        received_at=SENT + timedelta(seconds=5),
        is_draft=is_draft,
    )


def meeting(
    *,
    mailbox: str = ALICE.user_id,
    organizer: str = "alice@contoso.com",
    attendees: tuple[Attendee, ...] = (Attendee("ann@fabrikam.com", "required", "accepted"),),
    minutes: int = 45,
    is_cancelled: bool = False,
) -> MeetingMeta:
    return MeetingMeta(
        mailbox_user_id=mailbox,
        event_id=f"event-{mailbox}",
        ical_uid="ical-1",
        organizer=organizer,
        attendees=attendees,
        start=SENT,
        end=SENT + timedelta(minutes=minutes),
        is_cancelled=is_cancelled,
    )


@pytest.mark.parametrize(
    ("address", "internal"),
    [
        ("alice@contoso.com", True),
        ("alice@contoso.onmicrosoft.com", True),
        ("Alice@Contoso.com", True),
        ("shared-mailbox@contoso.com", True),  # not a user, but a verified domain
        ("ann@sales.contoso.com", False),  # subdomains are verified one by one
        ("ann@fabrikam.com", False),
        ("alice@contoso.com.evil.example", False),
    ],
)
def test_directory_tells_internal_from_external_addresses(address: str, internal: bool) -> None:
    assert DIRECTORY.is_internal(address) is internal


def test_a_user_address_outside_verified_domains_is_internal() -> None:
    guest_domain_user = DirectoryUser("carol-id", "Carol", "carol@acquired.example", "carol@contoso.com")

    assert Directory([guest_domain_user], ["contoso.com"]).is_internal("carol@acquired.example")


def test_a_received_email_gives_one_interaction_authored_by_the_contact() -> None:
    [interaction] = interactions_from_message(message(), DIRECTORY, HASH)

    assert interaction.kind == "email"
    assert interaction.user_id == ALICE.user_id
    assert interaction.contact == HASH("ann@fabrikam.com")
    assert (interaction.direction, interaction.user_role, interaction.contact_role) == (
        "received",
        "reader",
        "author",
    )
    assert interaction.at == SENT
    assert interaction.minutes == 0.0


def test_an_email_we_send_gives_one_interaction_per_external_recipient() -> None:
    sent = message(
        sender="alice@contoso.com", to=("ann@fabrikam.com", "ben@fabrikam.com"), cc=("bob@contoso.com",)
    )

    interactions = interactions_from_message(sent, DIRECTORY, HASH)

    assert {interaction.contact for interaction in interactions} == {
        HASH("ann@fabrikam.com"),
        HASH("ben@fabrikam.com"),
    }
    assert {(f.direction, f.user_role, f.contact_role) for f in interactions} == {
        ("sent", "author", "reader")
    }


def test_a_colleague_copied_on_our_email_is_a_reader_of_it() -> None:
    copy = message(
        mailbox=BOB.user_id, sender="alice@contoso.com", to=("ann@fabrikam.com",), cc=("bob@contoso.com",)
    )

    [interaction] = interactions_from_message(copy, DIRECTORY, HASH)

    assert (interaction.user_id, interaction.direction, interaction.user_role) == (
        BOB.user_id,
        "sent",
        "reader",
    )


def test_a_bcc_recipient_and_repeated_recipients_count_once_each() -> None:
    sent = message(
        sender="alice@contoso.com",
        to=("ann@fabrikam.com",),
        cc=("ann@fabrikam.com",),
        bcc=("ben@fabrikam.com",),
    )

    interactions = interactions_from_message(sent, DIRECTORY, HASH)

    assert sorted(interaction.contact for interaction in interactions) == sorted(
        [HASH("ann@fabrikam.com"), HASH("ben@fabrikam.com")]
    )


def test_every_external_participant_of_a_received_email_is_a_contact_of_it() -> None:
    received = message(to=("alice@contoso.com",), cc=("ben@fabrikam.com",))

    roles = {
        interaction.contact: interaction.contact_role
        for interaction in interactions_from_message(received, DIRECTORY, HASH)
    }

    assert roles == {HASH("ann@fabrikam.com"): "author", HASH("ben@fabrikam.com"): "reader"}


def test_the_same_email_in_two_mailboxes_has_the_same_key() -> None:
    [in_alice] = interactions_from_message(message(), DIRECTORY, HASH)
    [in_bob] = interactions_from_message(message(mailbox=BOB.user_id), DIRECTORY, HASH)

    assert in_alice.key == in_bob.key
    assert in_alice.record_key == in_bob.record_key


def test_different_emails_have_different_keys() -> None:
    [first] = interactions_from_message(message(), DIRECTORY, HASH)
    [second] = interactions_from_message(message(internet_message_id="<m2@fabrikam.com>"), DIRECTORY, HASH)

    assert first.key != second.key


def test_keys_do_not_reveal_the_message_id() -> None:
    [interaction] = interactions_from_message(message(), DIRECTORY, HASH)

    assert "fabrikam" not in interaction.key
    assert "conv" not in interaction.conversation
    assert len(interaction.key) == 32


def test_an_email_without_internet_message_id_still_counts_with_a_mailbox_local_key() -> None:
    [in_alice] = interactions_from_message(message(internet_message_id=""), DIRECTORY, HASH)
    [in_bob] = interactions_from_message(
        message(mailbox=BOB.user_id, internet_message_id=""), DIRECTORY, HASH
    )

    assert in_alice.key != in_bob.key


@pytest.mark.parametrize(
    "ignored",
    [
        message(sender="alice@contoso.com", to=("bob@contoso.com",)),
        message(is_draft=True),
        message(sender=""),
        message(sender="alice@contoso.com", to=("team@contoso.com",), cc=("",)),
    ],
    ids=["internal-only", "draft", "no-sender", "empty-address"],
)
def test_emails_without_an_external_party_or_drafts_give_no_interactions(ignored: MessageMeta) -> None:
    assert interactions_from_message(ignored, DIRECTORY, HASH) == []


def test_a_meeting_we_organise_is_sent_with_its_length_and_our_organizer_role() -> None:
    [interaction] = interactions_from_meeting(meeting(), DIRECTORY, HASH)

    assert interaction.kind == "meeting"
    assert (interaction.direction, interaction.user_role, interaction.contact_role) == (
        "sent",
        "organizer",
        "attendee",
    )
    assert interaction.minutes == 45.0
    assert interaction.at == SENT
    assert interaction.conversation == ""


def test_a_meeting_the_customer_organises_is_received() -> None:
    invite = meeting(
        mailbox=BOB.user_id,
        organizer="ann@fabrikam.com",
        attendees=(Attendee("bob@contoso.com", "required", "tentativelyAccepted"),),
    )

    [interaction] = interactions_from_meeting(invite, DIRECTORY, HASH)

    assert (interaction.direction, interaction.user_role, interaction.contact_role) == (
        "received",
        "attendee",
        "organizer",
    )
    assert interaction.contact == HASH("ann@fabrikam.com")


def test_declines_are_recorded_for_the_user_and_for_the_contact() -> None:
    invite = meeting(
        mailbox=BOB.user_id,
        attendees=(
            Attendee("bob@contoso.com", "required", "declined"),
            Attendee("ann@fabrikam.com", "optional", "declined"),
        ),
    )

    [interaction] = interactions_from_meeting(invite, DIRECTORY, HASH)

    assert (interaction.user_role, interaction.contact_role) == ("declined", "declined")


def test_the_organizer_listed_among_attendees_is_not_a_second_contact() -> None:
    invite = meeting(
        organizer="ann@fabrikam.com", attendees=(Attendee("ann@fabrikam.com", "required", "organizer"),)
    )

    assert len(interactions_from_meeting(invite, DIRECTORY, HASH)) == 1


@pytest.mark.parametrize(
    "ignored",
    [
        meeting(is_cancelled=True),
        meeting(attendees=(Attendee("bob@contoso.com", "required", "accepted"),)),
        meeting(attendees=(Attendee("room-7@fabrikam.com", "resource", "accepted"),)),
        meeting(organizer=""),
    ],
    ids=["cancelled", "internal-only", "external-room-only", "no-organizer"],
)
def test_cancelled_or_internal_meetings_give_no_interactions(ignored: MeetingMeta) -> None:
    assert interactions_from_meeting(ignored, DIRECTORY, HASH) == []


@pytest.mark.parametrize(("length", "counted"), [(24 * 60, MAX_MEETING_MINUTES), (-30, 0.0)])
def test_meeting_minutes_are_capped_at_a_working_day_and_never_negative(length: int, counted: float) -> None:
    [interaction] = interactions_from_meeting(meeting(minutes=length), DIRECTORY, HASH)

    assert interaction.minutes == counted


def test_the_same_meeting_in_two_calendars_has_the_same_key() -> None:
    [in_alice] = interactions_from_meeting(meeting(), DIRECTORY, HASH)
    [in_bob] = interactions_from_meeting(meeting(mailbox=BOB.user_id), DIRECTORY, HASH)

    assert in_alice.key == in_bob.key
    assert (in_alice.user_role, in_bob.user_role) == ("organizer", "attendee")


def test_distinct_interactions_merge_copies_and_keep_each_users_part() -> None:
    [alice_copy] = interactions_from_message(
        message(sender="alice@contoso.com", to=("ann@fabrikam.com",)), DIRECTORY, HASH
    )
    bob_copy = replace(alice_copy, user_id=BOB.user_id, user_role="reader")

    [occurrence] = distinct_interactions([alice_copy, bob_copy, alice_copy], NOW, frozenset())

    assert occurrence.participants == ((ALICE.user_id, "author"), (BOB.user_id, "reader"))


def test_distinct_interactions_drop_excluded_users_future_and_out_of_window_interactions() -> None:
    [base] = interactions_from_message(message(), DIRECTORY, HASH)
    excluded = replace(base, key="k-excluded", user_id="zoe-id")
    future = replace(base, key="k-future", at=NOW + timedelta(minutes=1))
    too_old = replace(base, key="k-old", at=NOW - timedelta(days=365))
    just_in = replace(base, key="k-in", at=NOW - timedelta(days=364, hours=23))

    kept = distinct_interactions([base, excluded, future, too_old, just_in], NOW, frozenset({"zoe-id"}))

    assert [occurrence.interaction.key for occurrence in kept] == ["k-in", base.key]


def test_distinct_interactions_refuse_interactions_about_several_contacts() -> None:
    [interaction] = interactions_from_message(message(), DIRECTORY, HASH)

    with pytest.raises(ValueError, match="one contact"):
        distinct_interactions([interaction, replace(interaction, contact="another")], NOW, frozenset())


def test_the_representative_of_disagreeing_copies_does_not_depend_on_order() -> None:
    [alice_copy] = interactions_from_meeting(meeting(), DIRECTORY, HASH)
    moved = replace(alice_copy, user_id=BOB.user_id, at=SENT + timedelta(hours=1), user_role="attendee")

    [forward] = distinct_interactions([alice_copy, moved], NOW, frozenset())
    [backward] = distinct_interactions([moved, alice_copy], NOW, frozenset())

    assert forward == backward
    assert forward.interaction.at == SENT + timedelta(hours=1)
