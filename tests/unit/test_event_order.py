"""Delivered in any order, admin-center events leave the state and the purges that delivery in the order they
were made leaves (SPEC 3: events can arrive out of order).

A stale event changes no state, but a stale withdrawal or opt-out still asks for the purge it implies: made
before the newer change, it covered the data collected until then. At equal event times the exclusion wins.
The group list is ordered by its replacements; an addition (a grant's groups) made after a replacement
survives it, whichever arrives first.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.domain.events import parse_event
from functions.domain.purge import GroupScope
from functions.domain.scope import Scope
from tests.support import admin_center as ac
from tests.support.container import Services

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
T1, T2 = NOW - timedelta(minutes=2), NOW - timedelta(minutes=1)
LONG_AGO = NOW - timedelta(days=30)


def deliver(services: Services, document: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(document).encode()
    response = services.webhooks.deliver(f"msg_{uuid.uuid4()}", body, parse_event(document, NOW), NOW)
    return response.body


def delivered(documents: Iterable[dict[str, Any]], services: Services | None = None) -> Services:
    services = services or Services()
    for document in documents:
        deliver(services, document)
    return services


def granted_long_ago(tenant: str) -> Services:
    return delivered([ac.granted(tenant, LONG_AGO)])


def tenant_purges(services: Services, tenant: str) -> list[str]:
    return [r.id for r in services.purges.list(tenant) if r.scope == Scope("tenant", tenant)]


def user_purges(services: Services, tenant: str, user: str) -> list[str]:
    return [r.id for r in services.purges.list(tenant) if r.scope == Scope("user", tenant, user_id=user)]


def purged_groups(services: Services, tenant: str) -> set[str]:
    return {
        g for r in services.purges.list(tenant) if isinstance(r.scope, GroupScope) for g in r.scope.group_ids
    }


# --- a withdrawal or an opt-out that arrives after a newer change -------------------------------------------


def test_a_withdrawal_delivered_after_the_grant_that_followed_it_still_purges_the_tenant() -> None:
    """Revoked at T1, granted again at T2; the grant arrives first, the revocation is stale."""
    tenant = str(uuid.uuid4())
    services = granted_long_ago(tenant)
    deliver(services, ac.granted(tenant, T2))

    response = deliver(services, ac.revoked(tenant, T1))

    assert response["outcome"] == "stale"
    assert services.consents.load(tenant).consent.state == "granted"
    assert tenant_purges(services, tenant) == [response["purgeId"]]
    assert {"tenantId": tenant, "purgeId": response["purgeId"]} in services.queues.purges


def test_a_stale_withdrawal_asks_for_the_purge_in_order_delivery_asks_for() -> None:
    tenant = str(uuid.uuid4())
    revoke, regrant = ac.revoked(tenant, T1), ac.granted(tenant, T2)
    in_order = delivered([revoke, regrant], granted_long_ago(tenant))
    reversed_ = delivered([regrant, revoke], granted_long_ago(tenant))
    assert tenant_purges(reversed_, tenant) == tenant_purges(in_order, tenant) != []


def test_a_stale_withdrawal_holds_the_tenant_until_its_purge_completes() -> None:
    """Ingestion of the tenant granted again waits for the purge, as after an in-order withdrawal."""
    tenant = str(uuid.uuid4())
    services = granted_long_ago(tenant)
    deliver(services, ac.granted(tenant, T2))
    deliver(services, ac.revoked(tenant, T1))
    decision = services.inclusion.tenant(tenant, NOW).tenant_decision()
    assert decision.reason == "tenant-purge-pending"


def test_a_stale_withdrawal_is_audited_as_stale_naming_its_purge() -> None:
    tenant = str(uuid.uuid4())
    services = granted_long_ago(tenant)
    deliver(services, ac.granted(tenant, T2))
    response = deliver(services, ac.revoked(tenant, T1))
    [entry] = [e for e in services.audit.of(tenant) if e.kind == "consent.revoked"]
    assert (entry.outcome, entry.purge_id) == ("stale", response["purgeId"])
    assert "purge is requested" in str(entry.detail)


def test_a_stale_withdrawal_of_a_tenant_revoked_since_points_at_the_purge_in_force() -> None:
    tenant = str(uuid.uuid4())
    services = granted_long_ago(tenant)
    newer = deliver(services, ac.revoked(tenant, T2))
    older = deliver(services, ac.revoked(tenant, T1))
    assert older["outcome"] == "stale"
    assert older["purgeId"] == newer["purgeId"]
    assert tenant_purges(services, tenant) == [newer["purgeId"]]


def test_an_opt_out_delivered_after_the_opt_in_that_followed_it_still_purges_the_user() -> None:
    """Opted out at T1, back in at T2; the opt-in arrives first, the opt-out is stale."""
    tenant, user = str(uuid.uuid4()), str(uuid.uuid4())
    services = granted_long_ago(tenant)
    deliver(services, ac.user_changed(tenant, user, T2, opted_out=False))

    response = deliver(services, ac.user_changed(tenant, user, T1, opted_out=True))

    assert response["outcome"] == "stale"
    stored = services.optouts.load_user(tenant, user).user
    assert stored is not None
    assert not stored.opted_out
    assert user_purges(services, tenant, user) == [response["purgeId"]]
    [entry] = [
        e for e in services.audit.of(tenant) if e.kind == "optout.user.changed" and e.outcome == "stale"
    ]
    assert entry.purge_id == response["purgeId"]


def test_a_stale_opt_out_reuses_the_unfinished_purge_of_the_user() -> None:
    tenant, user = str(uuid.uuid4()), str(uuid.uuid4())
    services = granted_long_ago(tenant)
    first = deliver(services, ac.user_changed(tenant, user, T1 - timedelta(minutes=1), opted_out=True))
    deliver(services, ac.user_changed(tenant, user, T2, opted_out=False))

    stale = deliver(services, ac.user_changed(tenant, user, T1, opted_out=True))

    assert (stale["outcome"], stale["purgeId"]) == ("stale", first["purgeId"])
    assert user_purges(services, tenant, user) == [first["purgeId"]]


def test_a_stale_opt_in_asks_for_no_purge() -> None:
    tenant, user = str(uuid.uuid4()), str(uuid.uuid4())
    services = granted_long_ago(tenant)
    deliver(services, ac.user_changed(tenant, user, T2, opted_out=False))
    response = deliver(services, ac.user_changed(tenant, user, T1, opted_out=False))
    assert response["outcome"] == "stale"
    assert "purgeId" not in response
    assert user_purges(services, tenant, user) == []


# --- the group list ----------------------------------------------------------------------------------------


def test_a_group_replacement_delivered_after_a_newer_grant_with_groups_keeps_both_their_groups() -> None:
    """Replaced by [A, B] at 08:59:40, granted with [A] at 08:59:50; the grant arrives first."""
    tenant, a, b = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    replaced = ac.groups_replaced(tenant, [a, b], NOW - timedelta(seconds=20))
    grant = ac.granted(tenant, NOW - timedelta(seconds=10), groups=[a])
    in_order = delivered([replaced, grant]).optouts.load_groups(tenant).groups.ids
    reversed_ = delivered([grant, replaced]).optouts.load_groups(tenant).groups.ids
    assert reversed_ == in_order == {a, b}


def test_a_grant_older_than_the_newest_group_replacement_does_not_bring_back_a_group_it_dropped() -> None:
    """Granted with [A] at T1, the list replaced by [B] at T2: in order, the admin's form removed A."""
    tenant, a, b = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    grant, replaced = ac.granted(tenant, T1, groups=[a]), ac.groups_replaced(tenant, [b], T2)
    in_order = delivered([grant, replaced]).optouts.load_groups(tenant).groups.ids
    reversed_ = delivered([replaced, grant]).optouts.load_groups(tenant).groups.ids
    assert reversed_ == in_order == {b}


def test_a_grant_stale_for_the_consent_still_opts_out_its_groups() -> None:
    """Granted with [A] at T1, revoked at T2, granted again at NOW without groups; the revocation arrives
    first. In order, A was opted out by the first grant and stays out after the second."""
    tenant, a = str(uuid.uuid4()), str(uuid.uuid4())
    services = delivered([ac.revoked(tenant, T2)])
    assert deliver(services, ac.granted(tenant, T1, groups=[a]))["outcome"] == "stale"
    deliver(services, ac.granted(tenant, NOW))
    assert services.optouts.load_groups(tenant).groups.ids == {a}


def test_a_group_replacement_older_than_the_newest_still_purges_the_groups_it_opted_out() -> None:
    """Replaced by [A] at T1 (its members' data purged), then by [] at T2; delivered the other way round."""
    tenant, a = str(uuid.uuid4()), str(uuid.uuid4())
    services = granted_long_ago(tenant)
    deliver(services, ac.groups_replaced(tenant, [], T2))

    response = deliver(services, ac.groups_replaced(tenant, [a], T1))

    assert response["outcome"] == "stale"
    assert services.optouts.load_groups(tenant).groups.ids == set()
    assert purged_groups(services, tenant) == {a}


def test_a_stale_group_replacement_purges_nothing_when_groups_are_retained() -> None:
    tenant, a = str(uuid.uuid4()), str(uuid.uuid4())
    services = delivered(
        [ac.granted(tenant, LONG_AGO), ac.groups_replaced(tenant, [], T2)], Services("retain")
    )
    deliver(services, ac.groups_replaced(tenant, [a], T1))
    assert services.purges.list(tenant) == []


# --- changes made in the same instant ----------------------------------------------------------------------


@pytest.mark.parametrize("revocation_first", [True, False])
def test_a_withdrawal_and_a_grant_made_in_the_same_instant_leave_the_tenant_revoked(
    revocation_first: bool,
) -> None:
    tenant = str(uuid.uuid4())
    pair = [ac.revoked(tenant, T1), ac.granted(tenant, T1)]
    services = delivered(pair if revocation_first else pair[::-1], granted_long_ago(tenant))
    assert services.consents.load(tenant).consent.state == "revoked"
    assert len(tenant_purges(services, tenant)) == 1


@pytest.mark.parametrize("opt_out_first", [True, False])
def test_an_opt_out_and_an_opt_in_made_in_the_same_instant_leave_the_user_out(opt_out_first: bool) -> None:
    tenant, user = str(uuid.uuid4()), str(uuid.uuid4())
    pair = [
        ac.user_changed(tenant, user, T1, opted_out=True),
        ac.user_changed(tenant, user, T1, opted_out=False),
    ]
    services = delivered(pair if opt_out_first else pair[::-1], granted_long_ago(tenant))
    stored = services.optouts.load_user(tenant, user).user
    assert stored is not None
    assert stored.opted_out
    assert len(user_purges(services, tenant, user)) == 1


def test_two_group_replacements_made_in_the_same_instant_both_count() -> None:
    tenant, a, b = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    pair = [ac.groups_replaced(tenant, [a], T1), ac.groups_replaced(tenant, [b], T1)]
    assert delivered(pair).optouts.load_groups(tenant).groups.ids == {a, b}
    assert delivered(pair[::-1]).optouts.load_groups(tenant).groups.ids == {a, b}


# --- any order gives the in-order result (per subject kind) -------------------------------------------------

TENANT = str(uuid.uuid4())
USERS = [str(uuid.uuid4()) for _ in range(2)]
GROUPS = [str(uuid.uuid4()) for _ in range(4)]
# A few minutes apart at most, so that many events share their time.
at = st.integers(min_value=0, max_value=5).map(lambda m: NOW - timedelta(minutes=m))
groups = st.lists(st.sampled_from(GROUPS), unique=True, max_size=3)


def ordered(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """In the order they were made; of those made in the same instant, an exclusion after an inclusion and a
    grant's groups after a replacement (which tie rule picks the first of each pair does not matter: the
    properties hold that every order gives the same result)."""
    rank = {"consent.granted": 0, "consent.revoked": 1, "optout.groups.replaced": 0}

    def key(document: dict[str, Any]) -> tuple[datetime, int]:
        data = document["data"]
        if document["type"] == "optout.user.changed":
            return parse_event(document, NOW).time, int(data["optedOut"])
        return parse_event(document, NOW).time, rank[document["type"]]

    return sorted(documents, key=key)


def scopes(services: Services) -> tuple[frozenset[Scope], frozenset[str]]:
    """The purges asked for: the tenant and user scopes, and every group a group purge covers."""
    records = services.purges.list(TENANT)
    plain = frozenset(r.scope for r in records if isinstance(r.scope, Scope))
    return plain, frozenset(g for r in records if isinstance(r.scope, GroupScope) for g in r.scope.group_ids)


@st.composite
def shuffled(draw: st.DrawFn, events: st.SearchStrategy[dict[str, Any]]) -> list[dict[str, Any]]:
    documents = draw(st.lists(events, min_size=1, max_size=8))
    return draw(st.permutations(documents))


consent_events = st.builds(
    lambda kind, when: (ac.granted if kind == "granted" else ac.revoked)(TENANT, when),
    st.sampled_from(["granted", "revoked"]),
    at,
)
user_events = st.builds(
    lambda user, out, when: ac.user_changed(TENANT, user, when, opted_out=out),
    st.sampled_from(USERS),
    st.booleans(),
    at,
)
group_events = st.one_of(
    st.builds(lambda ids, when: ac.groups_replaced(TENANT, ids, when), groups, at),
    st.builds(lambda ids, when: ac.granted(TENANT, when, groups=ids), groups, at),
)
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(documents=shuffled(consent_events))
def test_any_order_of_grants_and_withdrawals_gives_the_consent_and_purges_of_the_order_they_were_made(
    documents: list[dict[str, Any]],
) -> None:
    expected, actual = delivered(ordered(documents)), delivered(documents)
    want, got = expected.consents.load(TENANT).consent, actual.consents.load(TENANT).consent
    assert (got.state, got.last_event_time) == (want.state, want.last_event_time)
    assert scopes(actual) == scopes(expected)


@PROPERTY
@given(documents=shuffled(user_events))
def test_any_order_of_opt_outs_and_opt_ins_gives_the_users_and_purges_of_the_order_they_were_made(
    documents: list[dict[str, Any]],
) -> None:
    expected, actual = delivered(ordered(documents)), delivered(documents)
    for user in USERS:
        want, got = expected.optouts.load_user(TENANT, user).user, actual.optouts.load_user(TENANT, user).user
        assert (want is None) == (got is None)
        if want is not None and got is not None:
            assert (got.opted_out, got.last_event_time) == (want.opted_out, want.last_event_time)
    assert scopes(actual) == scopes(expected)


@PROPERTY
@given(documents=shuffled(group_events))
def test_any_order_of_group_replacements_and_grants_gives_the_list_and_purges_of_the_order_they_were_made(
    documents: list[dict[str, Any]],
) -> None:
    """The tenant granted long before, so every grant here restates the consent and adds its groups."""
    first = [ac.granted(TENANT, LONG_AGO)]
    expected, actual = delivered(first + ordered(documents)), delivered(first + documents)
    want, got = expected.optouts.load_groups(TENANT).groups, actual.optouts.load_groups(TENANT).groups
    assert (got.ids, got.last_event_time) == (want.ids, want.last_event_time)
    assert scopes(actual) == scopes(expected)


@PROPERTY
@given(documents=shuffled(st.one_of(consent_events, user_events, group_events)))
def test_any_order_of_all_of_them_gives_the_state_and_purges_of_the_order_they_were_made(
    documents: list[dict[str, Any]],
) -> None:
    """Across subjects, a grant's group purge depends on whether anything was enabled when it arrived; where
    that differs, a tenant purge was asked for too, and it deletes everything a group purge would."""
    first = [ac.granted(TENANT, LONG_AGO)]
    expected, actual = delivered(first + ordered(documents)), delivered(first + documents)
    want, got = expected.consents.load(TENANT).consent, actual.consents.load(TENANT).consent
    assert (got.state, got.last_event_time) == (want.state, want.last_event_time)
    assert actual.optouts.load_groups(TENANT).groups.ids == expected.optouts.load_groups(TENANT).groups.ids
    for user in USERS:
        want_user, got_user = (s.optouts.load_user(TENANT, user).user for s in (expected, actual))
        assert bool(got_user and got_user.opted_out) == bool(want_user and want_user.opted_out)
    (plain, purged), (want_plain, want_purged) = scopes(actual), scopes(expected)
    assert plain == want_plain
    assert purged == want_purged or Scope("tenant", TENANT) in plain
