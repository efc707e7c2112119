"""The next scheduled interaction with a contact (functions/domain/insights.py, `nextInteraction`)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given

from functions.domain.insights import NextInteraction, next_interaction, relationship_kpis
from functions.domain.interactions import Interaction
from functions.entrypoints.insights_views import kpis_view
from tests.support.interactions import NOW, email, histories, meeting

EXCLUDED = "zoe"
SOON = NOW + timedelta(days=2)
LATER = NOW + timedelta(days=9)


def test_the_earliest_meeting_ahead_is_the_next_interaction_with_the_side_that_organises_it() -> None:
    interactions = [
        meeting("later", at=LATER, direction="sent"),
        meeting("soon", at=SOON, direction="received"),
        meeting("past", at=NOW - timedelta(days=1)),
    ]

    assert next_interaction(interactions, NOW) == NextInteraction(SOON, "received")


def test_without_a_meeting_ahead_there_is_no_next_interaction() -> None:
    assert next_interaction([meeting("past", at=NOW - timedelta(days=1))], NOW) is None
    assert kpis_view(relationship_kpis([], NOW))["nextInteraction"] is None


def test_a_meeting_starting_now_has_happened_rather_than_being_ahead() -> None:
    kpis = relationship_kpis([meeting("e1", at=NOW)], NOW)

    assert (kpis.meetings_sent, kpis.next_interaction) == (1, None)


def test_a_meeting_every_included_holder_declined_is_not_next() -> None:
    interactions = [meeting("soon", at=SOON, user_role="declined"), meeting("later", at=LATER)]

    assert next_interaction(interactions, NOW) == NextInteraction(LATER, "sent")


def test_a_meeting_one_colleague_declined_is_next_when_another_attends() -> None:
    interactions = [
        meeting("soon", at=SOON, user="alice", user_role="declined"),
        meeting("soon", at=SOON, user="bob", user_role="attendee"),
    ]

    assert next_interaction(interactions, NOW) == NextInteraction(SOON, "sent")


def test_a_meeting_the_contact_declined_is_not_next() -> None:
    interactions = [meeting("soon", at=SOON, contact_role="declined"), meeting("later", at=LATER)]

    assert next_interaction(interactions, NOW) == NextInteraction(LATER, "sent")


def test_an_email_dated_in_the_future_is_not_a_scheduled_interaction() -> None:
    assert next_interaction([email("skewed", at=SOON)], NOW) is None


def test_a_meeting_only_an_excluded_user_holds_is_never_next() -> None:
    interactions = [meeting("soon", at=SOON, user=EXCLUDED), meeting("later", at=LATER, user="alice")]

    assert next_interaction(interactions, NOW, frozenset({EXCLUDED})) == NextInteraction(LATER, "sent")


def test_the_kpis_json_shows_the_next_interaction_in_utc() -> None:
    body = kpis_view(relationship_kpis([meeting("soon", at=SOON, direction="received")], NOW))

    assert body["nextInteraction"] == {
        "at": "2026-11-29T09:00:00Z",
        "kind": "meeting",
        "direction": "received",
    }


@given(histories(users=("alice", "bob")), histories(users=(EXCLUDED,), prefix="k"))
def test_the_next_interaction_is_ahead_and_ignores_excluded_users(
    included: list[Interaction], excluded: list[Interaction]
) -> None:
    found = next_interaction(included + excluded, NOW, frozenset({EXCLUDED}))

    assert found == next_interaction(included, NOW)
    assert found is None or found.at > NOW
