"""The synthetic tenant: deterministic, realistic enough for the insight rules, lazy for big mailboxes."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import timedelta

import pytest

import graphsim.tenant as tenant_module
from graphsim.generate import TenantSpec
from graphsim.model import Address
from graphsim.tenant import Tenant

SPEC = TenantSpec(seed=11, users=8, external_contacts=60, messages_per_user_per_month=25)
FAR = timedelta(days=3650)


def all_copies(t: Tenant) -> list:
    return [c for u in t.users() for c in t.mail_copies(u.id, t.spec.start - FAR, t.spec.now + FAR)]


def all_events(t: Tenant) -> list:
    return [c for u in t.users() for c in t.event_copies(u.id, t.spec.start - FAR, t.spec.now + FAR)]


@pytest.fixture(scope="module")
def tenant() -> Tenant:
    return Tenant(SPEC)


@pytest.fixture(scope="module")
def copies(tenant: Tenant) -> list:
    return all_copies(tenant)


def test_same_seed_gives_identical_tenant() -> None:
    first, second = Tenant(SPEC), Tenant(SPEC)
    assert first.tenant_id == second.tenant_id
    assert first.users() == second.users()
    assert [(c.graph_id, c.mail) for c in all_copies(first)] == [
        (c.graph_id, c.mail) for c in all_copies(second)
    ]
    assert [c.meeting for c in all_events(first)] == [c.meeting for c in all_events(second)]


def test_another_seed_gives_another_tenant() -> None:
    other = Tenant(TenantSpec(seed=12, users=8, external_contacts=60, messages_per_user_per_month=25))
    assert other.tenant_id != Tenant(SPEC).tenant_id
    assert {u.id for u in other.users()}.isdisjoint({u.id for u in Tenant(SPEC).users()})


def test_a_month_is_the_same_whether_generated_first_or_last() -> None:
    fresh, warmed = Tenant(SPEC), Tenant(SPEC)
    all_copies(warmed)  # generate every month before asking for the last one
    lo, hi = SPEC.slice_bounds(SPEC.months - 1)
    user = fresh.users()[0].id
    assert list(fresh.mail_copies(user, lo, hi)) == list(warmed.mail_copies(user, lo, hi))


def test_internal_recipients_see_the_same_internet_message_id_under_their_own_graph_id(copies: list) -> None:
    by_message: dict[str, list] = {}
    for c in copies:
        by_message.setdefault(c.mail.internet_message_id, []).append(c)
    shared = [cs for cs in by_message.values() if len(cs) > 1]
    assert shared, "some mail must reach several internal mailboxes"
    for cs in shared:
        assert len({c.mailbox_user_id for c in cs}) == len(cs)
        assert len({c.graph_id for c in cs}) == len(cs)


def test_only_the_senders_copy_is_stamped_with_the_send_time(copies: list) -> None:
    for c in copies:
        assert (c.received_at == c.mail.sent_at) == c.is_sender_copy


def test_external_contacts_are_skewed_a_few_heavy_and_a_long_tail(tenant: Tenant, copies: list) -> None:
    external = {c.address.lower() for c in tenant.contacts}
    mails = {c.mail.internet_message_id: c.mail for c in copies}.values()  # each mail once
    per_contact = Counter(
        a.address.lower() for m in mails for a in (m.sender, *m.to, *m.cc) if a.address.lower() in external
    )
    ranked = [n for _, n in per_contact.most_common()]
    top_tenth = sum(ranked[: max(1, len(ranked) // 10)])
    assert top_tenth > 0.3 * sum(ranked)
    assert ranked[-1] <= 3  # the tail is long and thin
    assert len(ranked) > len(tenant.contacts) // 2


def test_conversations_have_replies_in_both_directions_after_a_delay(tenant: Tenant, copies: list) -> None:
    internal = {u.mail.lower() for u in tenant.users() if u.mail}
    threads: dict[str, list] = {}
    for c in copies:
        if c.is_sender_copy or c.mail.sender.address.lower() not in internal:
            threads.setdefault(c.mail.conversation_id, []).append(c.mail)
    directions = Counter()
    for thread in threads.values():
        for before, after in itertools.pairwise(sorted(set(thread), key=lambda m: m.sent_at)):
            assert after.sent_at > before.sent_at
            ours = after.sender.address.lower() in internal
            directions["us" if ours else "them"] += 1
    assert directions["us"] > 20
    assert directions["them"] > 20


def test_everything_happens_within_the_last_year(tenant: Tenant, copies: list) -> None:
    year_ago = tenant.spec.now - timedelta(days=365)
    assert all(year_ago <= c.mail.sent_at <= tenant.spec.now for c in copies)
    assert all(year_ago <= e.meeting.start <= tenant.spec.now for e in all_events(tenant))


def test_meetings_share_an_ical_uid_across_calendars_and_vary_in_organizer_and_state(tenant: Tenant) -> None:
    events = all_events(tenant)
    by_uid: dict[str, list] = {}
    for e in events:
        by_uid.setdefault(e.meeting.ical_uid, []).append(e)
    assert any(len(es) > 1 for es in by_uid.values())
    assert all(len({e.graph_id for e in es}) == len(es) for es in by_uid.values())
    internal = {u.mail.lower() for u in tenant.users() if u.mail}
    organizers = {e.meeting.organizer.address.lower() in internal for e in events}
    assert organizers == {True, False}
    assert any(e.meeting.is_cancelled for e in events)
    responses = {a.response for e in events for a in e.meeting.attendees}
    assert {"accepted", "declined", "tentativelyAccepted"} <= responses


def test_transitive_membership_reaches_users_of_nested_groups(tenant: Tenant) -> None:
    emea = set(tenant.transitive_user_ids(tenant.group_named("Sales EMEA").id))
    sales = set(tenant.transitive_user_ids(tenant.group_named("Sales").id))
    everyone = set(tenant.transitive_user_ids(tenant.group_named("All Staff").id))
    assert emea
    assert emea < sales < everyone
    assert everyone == {u.id for u in tenant.users()}


def test_adding_and_removing_a_member_changes_transitive_membership() -> None:
    t = Tenant(SPEC)
    legal = t.group_named("Legal Hold").id
    newcomer = next(u.id for u in t.users() if u.id not in t.transitive_user_ids(legal))
    t.add_to_group(t.group_named("Sales EMEA").id, newcomer)
    t.add_to_group(legal, newcomer)
    assert newcomer in t.transitive_user_ids(legal)
    t.remove_from_group(legal, newcomer)
    assert newcomer not in t.transitive_user_ids(legal)


def test_a_deleted_user_disappears_from_directory_and_groups_but_not_from_colleagues_mail() -> None:
    t = Tenant(SPEC)
    gone = t.users()[0]
    t.delete_user(gone.id)
    assert t.user(gone.id) is None
    assert gone.id not in {u.id for u in t.users()}
    assert gone.id not in t.transitive_user_ids(t.group_named("All Staff").id)
    assert any(
        gone.mail and gone.mail in {a.address for a in (c.mail.sender, *c.mail.to)} for c in all_copies(t)
    )


def test_added_mail_reaches_internal_recipients_and_is_reported_as_a_change() -> None:
    t = Tenant(SPEC)
    alice, bob = t.users()[:2]
    before = t.change_seq
    mail = t.add_mail(Address("Pat", "pat@fabrikam.com"), (alice.address,), (bob.address,))
    for user in (alice, bob):
        changes = t.mail_changes(user.id, before, t.change_seq)
        assert [c.mail for c in changes] == [mail]
        assert mail in [c.mail for c in t.mail_copies(user.id, t.spec.now, t.spec.now + timedelta(1))]
    assert t.mail_changes(alice.id, t.change_seq, t.change_seq) == []


def test_users_without_a_mailbox_have_no_mail_address() -> None:
    t = Tenant(TenantSpec(users=5, users_without_mailbox=2))
    assert [u.mail is None for u in t.users()] == [True, True, False, False, False]


def test_a_big_mailbox_is_generated_one_month_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    generated: list[int] = []
    real = tenant_module.mails_for_month

    def counting(spec: TenantSpec, directory: object, month: int) -> list:
        generated.append(month)
        return real(spec, directory, month)  # type: ignore[arg-type]

    monkeypatch.setattr(tenant_module, "mails_for_month", counting)
    # Big means bigger than the simulator's cache budget (smaller here, so that the test stays fast).
    monkeypatch.setattr(tenant_module, "_CACHE_BUDGET_COPIES", 50_000)
    big = Tenant(TenantSpec(users=1, messages_per_user_per_month=4200))
    user = big.users()[0].id
    first_page = [
        c for _, c in zip(range(1000), big.mail_copies(user, big.spec.start, big.spec.now), strict=False)
    ]
    assert len(first_page) == 1000
    assert generated == [0]
    total = sum(1 for _ in big.mail_copies(user, big.spec.start, big.spec.now + FAR))
    assert total >= 50_000
    assert big.months_in_memory < big.spec.months
