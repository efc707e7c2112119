"""The account view: every contact of one email domain as one relationship (functions/domain/accounts.py)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.domain.accounts import account_relationships
from functions.domain.health import HealthConfig, relationship_health
from functions.domain.health_config import Cadence
from functions.domain.interactions import Interaction
from functions.domain.metadata import DirectoryUser
from functions.domain.who_knows_whom import who_knows_whom
from functions.entrypoints.insights_views import account_view
from functions.services.insights import AccountAnswer
from tests.support.interactions import NOW, USERS, email, histories, meeting

ANN, BOB, CY, DEE = "a" * 64, "b" * 64, "c" * 64, "d" * 64  # contact hashes of one domain
EXCLUDED = "zoe"
DIRECTORY = {
    user: DirectoryUser(user, user.title(), f"{user}@contoso.com", f"{user}@contoso.com")
    for user in (*USERS, EXCLUDED)
}
T = NOW - timedelta(days=5)


def about(contact: str, *interactions: Interaction) -> list[Interaction]:
    return [replace(interaction, contact=contact) for interaction in interactions]


def test_an_email_to_two_people_of_the_account_counts_once() -> None:
    account = account_relationships(
        {ANN: about(ANN, email("m1", at=T)), BOB: about(BOB, email("m1", at=T, contact_role="reader"))},
        NOW,
        DIRECTORY,
    )

    assert account.kpis.emails_received == 1
    assert account.kpis.time_spent_by_team_minutes == 2.5  # alice read it once


def test_the_customers_time_is_each_persons_own_time_added_up() -> None:
    account = account_relationships(
        {ANN: about(ANN, meeting("e1", at=T, minutes=60)), BOB: about(BOB, meeting("e1", at=T, minutes=60))},
        NOW,
        DIRECTORY,
    )

    assert account.kpis.meetings_sent == 1
    assert account.kpis.time_spent_by_customer_minutes == 120


def test_an_email_one_of_them_wrote_is_written_by_the_account() -> None:
    written = email("m1", at=T, user="alice", contact_role="author")
    copied = email("m1", at=T, user="alice", contact_role="reader")

    account = account_relationships({ANN: about(ANN, written), BOB: about(BOB, copied)}, NOW, DIRECTORY)

    [colleague] = account.top_colleagues
    [direct] = who_knows_whom([written], NOW, DIRECTORY)
    assert colleague.raw == direct.raw  # a direct email (weight 1), not a copied one (0.5)


def test_health_is_computed_over_the_account_so_three_people_met_once_each_are_enough() -> None:
    interactions = {contact: about(contact, email(f"m{contact}", at=T)) for contact in (ANN, BOB, CY)}

    account = account_relationships(interactions, NOW, DIRECTORY)

    assert all(relationship_health(f, NOW).grade == "not_enough_info" for f in interactions.values())
    assert account.health.score is not None


def test_the_account_health_uses_the_tenants_cadence() -> None:
    interactions = {contact: about(contact, email(f"m{contact}", at=T)) for contact in (ANN, BOB, CY)}
    monthly = HealthConfig(cadence=Cadence.from_json("monthly"))

    account = account_relationships(interactions, NOW, DIRECTORY, config=monthly)

    assert account.health.cadence == monthly.cadence
    assert (account.health.score or 0) > (
        account_relationships(interactions, NOW, DIRECTORY).health.score or 0
    )


def test_the_most_contacted_people_come_first_at_most_three_with_their_address_when_known() -> None:
    interactions = {
        ANN: about(ANN, *(email(f"a{n}", at=T - timedelta(days=n)) for n in range(2))),
        BOB: about(BOB, *(email(f"b{n}", at=T - timedelta(days=n)) for n in range(4))),
        CY: about(CY, email("c0", at=T)),
        DEE: about(DEE, *(email(f"d{n}", at=T - timedelta(days=n)) for n in range(3))),
    }

    account = account_relationships(interactions, NOW, DIRECTORY, addresses={BOB: "bob@fabrikam.com"})

    assert [(c.contact, c.interactions) for c in account.top_contacts] == [(BOB, 4), (DEE, 3), (ANN, 2)]
    assert [c.address for c in account.top_contacts] == ["bob@fabrikam.com", None, None]
    assert account.contacts == 4


def test_equally_contacted_people_rank_by_the_later_last_interaction_then_by_hash() -> None:
    interactions = {
        CY: about(CY, email("c0", at=T)),
        ANN: about(ANN, email("a0", at=T - timedelta(days=1))),
        BOB: about(BOB, email("b0", at=T)),
    }

    account = account_relationships(interactions, NOW, DIRECTORY)

    assert [c.contact for c in account.top_contacts] == [BOB, CY, ANN]


def test_people_with_nothing_in_the_window_are_not_counted() -> None:
    interactions = {
        ANN: about(ANN, email("a0", at=T)),
        BOB: about(BOB, email("b0", at=NOW - timedelta(days=400))),
    }

    account = account_relationships(interactions, NOW, DIRECTORY)

    assert account.contacts == 1
    assert [c.contact for c in account.top_contacts] == [ANN]


def test_the_colleagues_who_contact_the_account_most_are_ranked_by_strength_at_most_three() -> None:
    interactions = {
        ANN: about(ANN, *(email(f"a{user}{n}", at=T, user=user) for n, user in enumerate(USERS[:4]))),
        BOB: about(BOB, *(meeting(f"b{user}", at=T, user=user) for user in USERS[:2])),
    }

    account = account_relationships(interactions, NOW, DIRECTORY)

    assert [c.user_id for c in account.top_colleagues] == ["alice", "bob", "carol"]


def test_the_next_interaction_is_the_earliest_meeting_ahead_with_anyone_of_the_account() -> None:
    interactions = {
        ANN: about(ANN, meeting("later", at=NOW + timedelta(days=9))),
        BOB: about(BOB, meeting("soon", at=NOW + timedelta(days=2), direction="received")),
    }

    account = account_relationships(interactions, NOW, DIRECTORY)

    assert account.kpis.next_interaction is not None
    assert account.kpis.next_interaction.at == NOW + timedelta(days=2)


def test_the_json_is_the_kpis_with_health_and_both_top_lists() -> None:
    body = account_view(
        AccountAnswer(
            "fabrikam.com", account_relationships({ANN: about(ANN, email("a0", at=T))}, NOW, DIRECTORY)
        )
    )

    assert {"emailsSent", "nextInteraction", "health", "contacts", "topContacts", "topColleagues"} <= set(
        body
    )
    assert body["topContacts"] == [
        {
            "contact": None,
            "contactKey": ANN[:16],
            "interactions": 1,
            "lastInteraction": "2026-11-22T09:00:00Z",
        }
    ]
    assert [c["userId"] for c in body["topColleagues"]] == ["alice"]


def test_interactions_filed_under_the_wrong_contact_are_a_caller_bug() -> None:
    with pytest.raises(ValueError, match="another"):
        account_relationships({ANN: about(BOB, email("m1", at=T))}, NOW, DIRECTORY)


@st.composite
def accounts(draw: st.DrawFn, users: tuple[str, ...] = USERS) -> dict[str, list[Interaction]]:
    """Interactions with people of one account: each interaction is with one or more of them (their copies
    share
    the key and everything but the person's own part)."""
    interactions: dict[str, list[Interaction]] = {}
    history = draw(histories(users=users))
    people = {key: draw(st.lists(st.sampled_from((ANN, BOB, CY)), min_size=1, unique=True)) for key in
              sorted({interaction.key for interaction in history})}  # fmt: skip
    for interaction in history:
        first, *others = people[interaction.key]
        interactions.setdefault(first, []).append(replace(interaction, contact=first))
        other_role = "reader" if interaction.kind == "email" else "attendee"
        for contact in others:
            interactions.setdefault(contact, []).append(
                replace(interaction, contact=contact, contact_role=other_role)
            )
    return interactions


@given(accounts(users=("alice", "bob", EXCLUDED)))
def test_an_excluded_users_interactions_never_influence_the_account(
    interactions: dict[str, list[Interaction]],
) -> None:
    without = {c: [f for f in fs if f.user_id != EXCLUDED] for c, fs in interactions.items()}

    account = account_relationships(interactions, NOW, DIRECTORY, frozenset({EXCLUDED}))

    assert account == account_relationships(without, NOW, DIRECTORY)
    assert EXCLUDED not in {c.user_id for c in account.top_colleagues}


@given(accounts(), st.randoms(use_true_random=False))
def test_the_order_of_contacts_and_interactions_never_changes_the_account(
    interactions: dict[str, list[Interaction]], rng: random.Random
) -> None:
    shuffled = {
        contact: rng.sample(interactions[contact], len(interactions[contact]))
        for contact in rng.sample(sorted(interactions), len(interactions))
    }

    assert account_relationships(shuffled, NOW, DIRECTORY) == account_relationships(
        interactions, NOW, DIRECTORY
    )
