"""Opt-out rules: the group list, a user's own choice, ordering per subject (who is out: test_inclusion)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from functions.domain.events import Provenance
from functions.domain.optouts import (
    GroupOptOuts,
    UserOptOut,
    add_groups,
    change_user,
    replace_groups,
)

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
TENANT = str(uuid.uuid4())
ALICE, BOB = str(uuid.uuid4()), str(uuid.uuid4())
G1, G2, G3 = (str(uuid.uuid4()) for _ in range(3))


def change(at: datetime, event_id: str | None = None) -> Provenance:
    return Provenance("admin", event_id or f"evt-{uuid.uuid4()}", at, "webhook", at)


def opt(user: UserOptOut | None, at: datetime, *, out: bool, purge_id: str = "p") -> UserOptOut | None:
    return change_user(
        user, tenant_id=TENANT, user_id=ALICE, opted_out=out, provenance=change(at), purge_id=purge_id
    ).user


def test_replacing_the_groups_reports_what_was_added_and_removed() -> None:
    groups = replace_groups(GroupOptOuts(TENANT), [G1, G2], change(T0)).groups
    transition = replace_groups(groups, [G2, G3], change(T0 + timedelta(minutes=1)))
    assert (transition.added, transition.removed) == ({G3}, {G1})
    assert transition.groups.ids == {G2, G3}


def test_a_kept_group_keeps_its_source() -> None:
    groups = add_groups(GroupOptOuts(TENANT), [G1], "legacy-migration", change(T0)).groups
    groups = replace_groups(groups, [G1, G2], change(T0 + timedelta(minutes=1))).groups
    assert {g: e.source for g, e in groups.entries.items()} == {G1: "legacy-migration", G2: "admin"}


def test_a_replacement_older_than_the_last_one_is_stale() -> None:
    groups = replace_groups(GroupOptOuts(TENANT), [G1], change(T0 + timedelta(minutes=5))).groups
    transition = replace_groups(groups, [], change(T0))
    assert transition.outcome == "stale"
    assert transition.groups == groups


def test_a_replacement_older_than_a_grant_that_added_groups_cannot_drop_them() -> None:
    groups = add_groups(GroupOptOuts(TENANT), [G1], "consent-grant", change(T0 + timedelta(minutes=5))).groups
    assert replace_groups(groups, [], change(T0)).outcome == "stale"


def test_a_replacement_keeps_the_groups_a_newer_addition_named_and_adds_its_own() -> None:
    groups = add_groups(GroupOptOuts(TENANT), [G1], "consent-grant", change(T0 + timedelta(minutes=5))).groups
    transition = replace_groups(groups, [G2], change(T0))
    assert (transition.outcome, transition.groups.ids) == ("applied", {G1, G2})


def test_a_replacement_drops_the_groups_of_an_older_addition() -> None:
    groups = add_groups(GroupOptOuts(TENANT), [G1], "consent-grant", change(T0)).groups
    transition = replace_groups(groups, [G2], change(T0 + timedelta(minutes=5)))
    assert (transition.groups.ids, transition.removed) == ({G2}, {G1})


def test_an_addition_older_than_the_newest_replacement_is_stale() -> None:
    groups = replace_groups(GroupOptOuts(TENANT), [G2], change(T0 + timedelta(minutes=5))).groups
    transition = add_groups(groups, [G1], "consent-grant", change(T0))
    assert (transition.outcome, transition.groups) == ("stale", groups)


def test_an_addition_of_a_listed_group_remembers_its_time_for_older_replacements() -> None:
    groups = replace_groups(GroupOptOuts(TENANT), [G1], change(T0)).groups
    groups = add_groups(groups, [G1], "consent-grant", change(T0 + timedelta(minutes=10))).groups
    assert replace_groups(groups, [], change(T0 + timedelta(minutes=5))).groups.ids == {G1}


def test_additions_never_move_the_ordering_key_of_replacements() -> None:
    groups = add_groups(GroupOptOuts(TENANT), [G1], "consent-grant", change(T0 + timedelta(minutes=5))).groups
    assert groups.last_event_time is None


def test_a_stale_replacement_names_the_groups_it_opted_out_that_the_list_lacks() -> None:
    groups = replace_groups(GroupOptOuts(TENANT), [G1], change(T0 + timedelta(minutes=5))).groups
    transition = replace_groups(groups, [G1, G2], change(T0))
    assert (transition.outcome, transition.implied, transition.groups) == ("stale", {G2}, groups)


def test_two_replacements_made_in_the_same_instant_keep_the_groups_of_both() -> None:
    groups = replace_groups(GroupOptOuts(TENANT), [G1], change(T0)).groups
    assert replace_groups(groups, [G2], change(T0)).groups.ids == {G1, G2}


def test_an_administrator_replacing_through_the_api_gets_exactly_the_list() -> None:
    """Even against an addition stamped later (a sender's clock ahead of ours): the REST call acts now."""
    groups = add_groups(GroupOptOuts(TENANT), [G1], "consent-grant", change(T0 + timedelta(minutes=1))).groups
    api = Provenance("admin", f"api-{uuid.uuid4()}", T0, "api", T0)
    assert replace_groups(groups, [G2], api).groups.ids == {G2}


def test_adding_groups_already_listed_changes_nothing() -> None:
    groups = replace_groups(GroupOptOuts(TENANT), [G1], change(T0)).groups
    assert add_groups(groups, [G1], "consent-grant", change(T0)).outcome == "unchanged"


def test_a_user_opt_out_carries_its_purge() -> None:
    transition = change_user(
        None, tenant_id=TENANT, user_id=ALICE, opted_out=True, provenance=change(T0), purge_id="purge-1"
    )
    assert transition.user is not None
    assert (transition.user.opted_out, transition.purge_id) == (True, "purge-1")


def test_opting_out_again_points_at_the_first_purge() -> None:
    user = opt(None, T0, out=True, purge_id="purge-1")
    transition = change_user(
        user, tenant_id=TENANT, user_id=ALICE, opted_out=True,
        provenance=change(T0 + timedelta(hours=1)), purge_id="purge-2",
    )  # fmt: skip
    assert (transition.outcome, transition.purge_id) == ("unchanged", "purge-1")


def test_a_user_can_opt_back_in_with_no_purge() -> None:
    user = opt(opt(None, T0, out=True), T0 + timedelta(hours=1), out=False)
    assert user is not None
    assert not user.opted_out


def test_a_stale_opt_out_carries_the_purge_it_is_given_when_the_user_is_in() -> None:
    user = opt(None, T0 + timedelta(hours=1), out=False)
    transition = change_user(
        user, tenant_id=TENANT, user_id=ALICE, opted_out=True, provenance=change(T0), purge_id="purge-1"
    )
    assert (transition.outcome, transition.user, transition.purge_id) == ("stale", user, "purge-1")


def test_a_stale_opt_out_of_a_user_who_is_out_carries_the_purge_in_force() -> None:
    user = opt(None, T0 + timedelta(hours=1), out=True, purge_id="purge-1")
    transition = change_user(
        user, tenant_id=TENANT, user_id=ALICE, opted_out=True, provenance=change(T0), purge_id="purge-2"
    )
    assert (transition.outcome, transition.purge_id) == ("stale", "purge-1")


def test_an_opt_in_made_in_the_same_instant_as_the_opt_out_in_force_is_stale() -> None:
    user = opt(None, T0, out=True)
    transition = change_user(
        user, tenant_id=TENANT, user_id=ALICE, opted_out=False, provenance=change(T0), purge_id="p"
    )
    assert (transition.outcome, transition.purge_id) == ("stale", None)


def test_an_opt_in_older_than_the_opt_out_is_stale() -> None:
    user = opt(None, T0, out=True)
    transition = change_user(
        user, tenant_id=TENANT, user_id=ALICE, opted_out=False,
        provenance=change(T0 - timedelta(seconds=1)), purge_id="p",
    )  # fmt: skip
    assert transition.outcome == "stale"
    assert transition.user == user
