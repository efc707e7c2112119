"""Who knows whom: colleagues ranked by connection strength (functions/domain/who_knows_whom.py)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.domain.health_config import Cadence
from functions.domain.interactions import WINDOW, Interaction
from functions.domain.metadata import DirectoryUser
from functions.domain.who_knows_whom import Colleague, band, ranking, who_knows_whom
from functions.entrypoints.insights_views import colleague_view
from tests.support.interactions import NOW, USERS, email, histories, meeting

EXCLUDED = "zoe"
DIRECTORY = {
    user: DirectoryUser(
        user, user.title() + " Example", f"{user}@contoso.com", f"{user}@contoso.onmicrosoft.com"
    )
    for user in (*USERS, EXCLUDED)
}
T = NOW - timedelta(days=3)


K_WEEKLY = 2 * 90 / (7 * math.log(2)) * (1 - 2 ** (-365 / 90))  # an email each way a week: 34.87


def strength(weight: float) -> float:
    """The documented curve at the weekly cadence, unrounded."""
    return 100 * weight / (weight + K_WEEKLY)


def exchanges(multiple: float, user: str = "alice") -> list[Interaction]:
    """A year of `multiple` times the weekly cadence (an email each way), seen halfway between two."""
    gap = timedelta(weeks=1) / multiple
    interactions = []
    at = NOW - gap / 2
    while at > NOW - WINDOW:
        interactions += [
            email(f"s{at}", at=at, user=user, direction="sent"),
            email(f"r{at}", at=at, user=user, direction="received"),
        ]
        at -= gap
    return interactions


def ranked(interactions: list[Interaction], excluded: frozenset[str] = frozenset()) -> list[str]:
    return [colleague.user_id for colleague in who_knows_whom(interactions, NOW, DIRECTORY, excluded)]


def test_a_colleague_entry_carries_identity_strength_band_and_last_interaction() -> None:
    [entry] = who_knows_whom([meeting("e1", at=NOW, user="alice")], NOW, DIRECTORY)

    assert entry.raw == pytest.approx(strength(3))  # one meeting today: weight 3, no decay
    assert replace(entry, raw=0.0) == Colleague(
        user_id="alice",
        display_name="Alice Example",
        address="alice@contoso.com",
        strength=8,
        band="weak",
        last_interaction_at=NOW,
        raw=0.0,
    )
    assert colleague_view(entry) == {
        "userId": "alice",
        "displayName": "Alice Example",
        "address": "alice@contoso.com",
        "strength": 8,
        "band": "weak",
        "lastInteraction": "2026-11-27T09:00:00Z",
    }


def test_a_colleague_without_mailbox_address_is_shown_with_the_user_principal_name() -> None:
    directory = {"alice": DirectoryUser("alice", "Alice", "", "alice@contoso.onmicrosoft.com")}

    [entry] = who_knows_whom([email("m1", at=T, user="alice")], NOW, directory)

    assert entry.address == "alice@contoso.onmicrosoft.com"


def test_an_interaction_90_days_ago_weighs_half() -> None:
    [entry] = who_knows_whom([meeting("e1", at=NOW - timedelta(days=90))], NOW, DIRECTORY)

    assert entry.raw == pytest.approx(strength(3 * 0.5))


def test_an_email_copied_to_both_weighs_half_a_direct_one() -> None:
    interactions = [
        email("direct", at=NOW, user="alice", direction="sent", user_role="author"),
        email("copied", at=NOW, user="bob", direction="sent", user_role="reader", contact_role="reader"),
    ]

    by_user = {entry.user_id: entry.raw for entry in who_knows_whom(interactions, NOW, DIRECTORY)}

    assert by_user == {"alice": pytest.approx(strength(1)), "bob": pytest.approx(strength(0.5))}


def test_the_contacts_email_to_a_colleague_is_direct() -> None:
    [entry] = who_knows_whom([email("m1", at=NOW, user="bob", contact_role="author")], NOW, DIRECTORY)

    assert entry.raw == pytest.approx(strength(1))


def test_the_same_interaction_reprocessed_counts_once() -> None:
    once = who_knows_whom([meeting("e1", at=T)], NOW, DIRECTORY)

    assert who_knows_whom([meeting("e1", at=T)] * 3, NOW, DIRECTORY) == once


def test_more_frequent_and_more_recent_contact_ranks_higher() -> None:
    interactions = [
        *(email(f"a{n}", at=T - timedelta(days=n), user="alice") for n in range(6)),
        *(email(f"b{n}", at=T - timedelta(days=300 + n), user="bob") for n in range(3)),
        email("c0", at=T, user="carol"),
    ]

    assert ranked(interactions) == ["alice", "carol", "bob"]


def test_at_most_five_colleagues_are_listed_the_strongest_ones() -> None:
    interactions = [
        email(f"m{user}{n}", at=T, user=user) for count, user in enumerate(USERS) for n in range(count + 1)
    ]

    assert ranked(interactions) == list(reversed(USERS))[:5]


def test_colleagues_shown_with_the_same_strength_rank_by_the_unrounded_one() -> None:
    interactions = [email("m1", at=T, user="alice"), email("m2", at=T + timedelta(minutes=1), user="bob")]

    entries = who_knows_whom(interactions, NOW, DIRECTORY)

    assert entries[0].strength == entries[1].strength
    assert entries[0].raw > entries[1].raw
    assert [entry.user_id for entry in entries] == ["bob", "alice"]


def test_equal_strength_is_broken_by_the_more_recent_last_interaction_then_the_user_id() -> None:
    def colleague(user_id: str, last: timedelta) -> Colleague:
        return Colleague(user_id, user_id, f"{user_id}@contoso.com", 40, "moderate", T - last, raw=40.0)

    entries = [
        colleague("alice", timedelta(days=2)),
        colleague("carol", timedelta(0)),
        colleague("bob", timedelta(0)),
    ]

    assert [entry.user_id for entry in sorted(entries, key=ranking)] == ["bob", "carol", "alice"]


def test_equal_strength_and_time_are_broken_by_user_id() -> None:
    interactions = [
        email("m1", at=T, user="carol"),
        email("m1", at=T, user="alice"),
        email("m1", at=T, user="bob"),
    ]

    assert ranked(interactions) == ["alice", "bob", "carol"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(100, "strong"), (50, "strong"), (49, "moderate"), (20, "moderate"), (19, "weak"), (0, "weak")],
)
def test_bands_follow_the_documented_cut_offs(value: int, expected: str) -> None:
    assert band(value) == expected


@pytest.mark.parametrize(("multiple", "anchor"), [(0.25, 20), (0.5, 33), (1, 50), (2, 67), (10, 91)])
def test_a_colleague_keeping_up_a_multiple_of_the_cadence_scores_its_share(
    multiple: float, anchor: int
) -> None:
    [entry] = who_knows_whom(exchanges(multiple), NOW, DIRECTORY)

    assert abs(entry.strength - anchor) <= 2


def test_a_colleague_at_the_cadence_is_strong_at_half_of_it_moderate_at_a_tenth_weak() -> None:
    bands = [who_knows_whom(exchanges(m), NOW, DIRECTORY)[0].band for m in (1, 0.5, 0.1)]

    assert bands == ["strong", "moderate", "weak"]


def test_a_colleague_in_weekly_meetings_all_year_is_strong() -> None:
    interactions = [meeting(f"e{week}", at=NOW - timedelta(weeks=week), user="alice") for week in range(52)]

    [entry] = who_knows_whom(interactions, NOW, DIRECTORY)

    assert entry.band == "strong"


def test_a_slower_cadence_makes_the_same_colleague_stronger() -> None:
    interactions = exchanges(0.5)

    [weekly] = who_knows_whom(interactions, NOW, DIRECTORY)
    [monthly] = who_knows_whom(interactions, NOW, DIRECTORY, cadence=Cadence.from_json("monthly"))

    assert (weekly.band, monthly.band) == ("moderate", "strong")


def test_declined_meetings_do_not_make_a_colleague() -> None:
    assert ranked([meeting("e1", at=T, user="alice", user_role="declined")]) == []


def test_a_colleague_missing_from_the_directory_is_not_listed() -> None:
    interactions = [email("m1", at=T, user="ghost"), email("m1", at=T, user="alice")]

    assert ranked(interactions) == ["alice"]


def test_an_excluded_colleague_is_never_listed_even_as_the_strongest() -> None:
    interactions = [
        *(meeting(f"e{n}", at=T, user=EXCLUDED) for n in range(10)),
        meeting("e0", at=T, user="alice", user_role="attendee"),
    ]

    assert ranked(interactions, frozenset({EXCLUDED})) == ["alice"]


def test_interactions_outside_the_year_or_in_the_future_do_not_count() -> None:
    interactions = [email("old", at=NOW - timedelta(days=366)), meeting("next", at=NOW + timedelta(days=1))]

    assert ranked(interactions) == []


@given(histories(users=(*USERS, EXCLUDED)), st.sets(st.sampled_from((*USERS, EXCLUDED)), min_size=1))
def test_excluded_users_never_appear_and_the_list_is_bounded_and_ordered(
    interactions: list[Interaction], excluded: set[str]
) -> None:
    entries = who_knows_whom(interactions, NOW, DIRECTORY, frozenset(excluded))

    assert not {entry.user_id for entry in entries} & excluded
    assert len(entries) <= 5
    assert all(0 <= entry.strength <= 100 for entry in entries)
    assert all(entry.strength == math.floor(entry.raw + 0.5) for entry in entries)
    keys = [(-entry.raw, -entry.last_interaction_at.timestamp(), entry.user_id) for entry in entries]
    assert keys == sorted(keys)


@given(histories(users=("alice", "bob", "carol")), histories(users=(EXCLUDED,)))
def test_an_excluded_users_interactions_never_change_the_others(
    included: list[Interaction], excluded: list[Interaction]
) -> None:
    with_excluded = who_knows_whom(included + excluded, NOW, DIRECTORY, frozenset({EXCLUDED}))

    assert with_excluded == who_knows_whom(included, NOW, DIRECTORY)
