"""The ingestion worker over in-memory ports and a fake Graph (tests/support/container.py `IngestionWorld`):
what one window reads, writes and records, who it never reads, and how it fails. The same behaviours run
against Azurite and the Graph simulator in tests/integration/test_ingestion.py."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import astuple, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.adapters.graph_parse import parse_messages_page
from functions.domain.contacts import ContactHasher, account_hash, contact_hash
from functions.domain.errors import (
    GraphError,
    GraphMalformedResponse,
    GraphNotFound,
    GraphThrottled,
    MembershipPending,
)
from functions.domain.ingestion import INCREMENTAL
from functions.domain.interactions import Interaction
from functions.domain.metadata import MessageMeta
from functions.domain.scope import Scope
from functions.services import ingestion
from functions.services.shared_by_windows import AccountsWritten
from tests.support.container import IngestionWorld
from tests.support.memory_ingestion import DirectoryGraph, GraphFailure, meeting, message

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
BUYER = "buyer@fabrikam.example"
PARTNER = "partner@northwind.example"
BACKFILL = "backfill-11"


def fill_mailbox(world: IngestionWorld, user: str, at: datetime = T0 - 10 * DAY) -> list[str]:
    """One page of mail (a message from BUYER, a reply to BUYER and PARTNER) and one meeting with BUYER:
    four interactions. The identifiers that must never be stored in clear."""
    own = world.address(user)
    received = message(user, BUYER, [own], at, conversation_id="conv-received")
    sent = message(user, own, [BUYER], at + timedelta(hours=1), cc=[PARTNER], conversation_id="conv-sent")
    call = meeting(user, own, [BUYER], at + timedelta(hours=2), minutes=30)
    world.deliver(user, received, sent, call)
    return [
        received.internet_message_id, received.conversation_id, sent.internet_message_id,
        sent.conversation_id, call.ical_uid, call.event_id, received.message_id,
    ]  # fmt: skip


def hashed(world: IngestionWorld, address: str) -> str:
    return contact_hash(world.hash_key, world.tenant_id, address)


def run_backfill(world: IngestionWorld, user: str) -> str:
    return world.worker.run(world.window(user, BACKFILL, T0 - 30 * DAY, T0))


def slice_of(world: IngestionWorld, user: str) -> set[Interaction]:
    return set(world.slices.interactions(world.tenant_id, user))


def shape(interactions: set[Interaction]) -> set[tuple[str, str, str, str, str]]:
    """What each interaction says, without its digests and times."""
    return {(i.contact, i.kind, i.direction, i.user_role, i.contact_role) for i in interactions}


def stored_rows(world: IngestionWorld) -> int:
    tenant = Scope("tenant", world.tenant_id)
    return world.slices.count_scope(tenant) + world.contacts.count_scope(tenant)


@pytest.fixture
def world() -> IngestionWorld:
    return IngestionWorld(T0, users=2)


# --- a window of an included user -------------------------------------------------------------------------


def test_a_window_stores_each_interaction_of_the_mailbox_in_the_users_slice(world: IngestionWorld) -> None:
    user = world.users[0]
    world.grant()
    fill_mailbox(world, user)
    assert run_backfill(world, user) == "succeeded"
    buyer, partner = hashed(world, BUYER), hashed(world, PARTNER)
    assert shape(slice_of(world, user)) == {
        (buyer, "email", "received", "reader", "author"),
        (buyer, "email", "sent", "author", "reader"),
        (partner, "email", "sent", "author", "reader"),
        (buyer, "meeting", "sent", "organizer", "attendee"),
    }
    assert {i.user_id for i in slice_of(world, user)} == {user}


def test_the_contact_index_holds_a_copy_of_every_slice_row_under_its_contact(world: IngestionWorld) -> None:
    user = world.users[0]
    world.grant()
    fill_mailbox(world, user)
    run_backfill(world, user)
    rows = slice_of(world, user)
    buyer, partner = hashed(world, BUYER), hashed(world, PARTNER)
    assert set(world.contacts.interactions(world.tenant_id, buyer)) == {i for i in rows if i.contact == buyer}
    assert world.contacts.interactions(world.tenant_id, partner) == [i for i in rows if i.contact == partner]
    assert len(world.contacts.interactions(world.tenant_id, buyer)) == 3


def test_stored_rows_name_no_address_and_no_graph_identifier_in_clear(world: IngestionWorld) -> None:
    user = world.users[0]
    world.grant()
    identifiers = fill_mailbox(world, user)
    run_backfill(world, user)
    rows = slice_of(world, user) | set(world.contacts.interactions(world.tenant_id, hashed(world, BUYER)))
    text = " ".join(str(field) for row in rows for field in astuple(row))
    assert len(rows) == 4
    for clear in (BUYER, PARTNER, world.address(user), "@", "fabrikam", *identifiers):
        assert clear not in text
    assert {i.contact for i in rows} == {hashed(world, BUYER), hashed(world, PARTNER)}


def test_a_window_that_lands_marks_its_cursor_succeeded_with_its_counts(world: IngestionWorld) -> None:
    user = world.users[0]
    world.grant()
    fill_mailbox(world, user)
    run_backfill(world, user)
    cursor = world.cursors.get(world.tenant_id, user, BACKFILL)
    assert cursor is not None
    assert (cursor.status, cursor.start, cursor.end, cursor.attempts) == ("succeeded", T0 - 30 * DAY, T0, 1)
    assert dict(cursor.counts) == {"messages": 2, "meetings": 1, "interactions": 4}
    assert (cursor.started_at, cursor.finished_at, cursor.error) == (T0, T0, None)
    runs = {run for _, run in world.slices.rows[(world.tenant_id, user)].values()}
    assert runs == {cursor.run_id}  # every row is tagged with the run that wrote it


def test_a_window_reads_only_the_mail_received_within_its_span(world: IngestionWorld) -> None:
    user = world.users[0]
    own = world.address(user)
    start, end = T0 - 30 * DAY, T0 - 20 * DAY
    world.grant()
    world.deliver(
        user,
        message(user, BUYER, [own], start - timedelta(seconds=1)),
        message(user, BUYER, [own], start),
        message(user, BUYER, [own], end - timedelta(seconds=1)),
        message(user, BUYER, [own], end),
    )
    world.worker.run(world.window(user, "backfill-00", start, end))
    assert sorted(i.at for i in slice_of(world, user)) == [start, end - timedelta(seconds=1)]


def test_the_account_index_pairs_each_contact_with_its_hashed_domain(world: IngestionWorld) -> None:
    user = world.users[0]
    world.grant()
    fill_mailbox(world, user)
    run_backfill(world, user)
    fabrikam = account_hash(world.hash_key, world.tenant_id, "fabrikam.example")
    northwind = account_hash(world.hash_key, world.tenant_id, "northwind.example")
    assert world.accounts.rows == {
        (world.tenant_id, fabrikam): {hashed(world, BUYER)},
        (world.tenant_id, northwind): {hashed(world, PARTNER)},
    }


def test_the_account_index_pairs_every_contact_even_when_the_hash_memo_fills_mid_buffer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The production memo holds 50,000 addresses (one window naming 50,001 keeps 1 pair of 50,001); the same
    # path, scaled down to a memo of 2.
    monkeypatch.setattr(ingestion, "ContactHasher", functools.partial(ContactHasher, limit=2))
    world = IngestionWorld(T0, users=1)
    user = world.users[0]
    world.grant()
    customers = [f"c{n}@fabrikam.example" for n in range(3)]
    world.deliver(user, message(user, world.address(user), customers, T0 - DAY))
    assert run_backfill(world, user) == "succeeded"
    fabrikam = account_hash(world.hash_key, world.tenant_id, "fabrikam.example")
    assert world.accounts.contacts(world.tenant_id, fabrikam) == sorted(hashed(world, c) for c in customers)


def pairs_sent(world: IngestionWorld, monkeypatch: pytest.MonkeyPatch) -> list[set[tuple[str, str]]]:
    """Every batch of pairs the worker hands the account index, as it hands them."""
    sent: list[set[tuple[str, str]]] = []
    add = world.accounts.add

    def recording(tenant_id: str, pairs: Iterable[tuple[str, str]]) -> int:
        sent.append(set(pairs))
        return add(tenant_id, sent[-1])

    monkeypatch.setattr(world.accounts, "add", recording)
    return sent


def test_a_pair_the_account_index_got_under_this_consent_is_not_sent_again(
    world: IngestionWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = world.users
    world.grant()
    fill_mailbox(world, first)
    fill_mailbox(world, second)  # the same two contacts
    sent = pairs_sent(world, monkeypatch)
    run_backfill(world, first)
    run_backfill(world, second)
    run_backfill(world, first)
    assert [len(pairs) for pairs in sent] == [2]
    assert len(world.accounts.rows) == 2


def test_after_a_tenant_purge_and_a_new_consent_every_pair_is_sent_again(
    world: IngestionWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker remembers the pairs it wrote under a consent version. A tenant purge deletes the account
    index, and comes with a consent change, so the next consent's windows write every pair again."""
    user = world.users[0]
    world.grant()
    fill_mailbox(world, user)
    run_backfill(world, user)
    world.revoke()
    for purge in world.container.purge_store.unfinished_of(world.tenant_id):
        world.container.purge_service.run(world.tenant_id, purge.id, world.clock)
        world.clock.advance(timedelta(minutes=12))  # past the purge's fence
        world.container.purge_service.run(world.tenant_id, purge.id, world.clock)
    assert world.accounts.rows == {}
    world.grant()
    sent = pairs_sent(world, monkeypatch)
    assert run_backfill(world, user) == "succeeded"
    assert [len(pairs) for pairs in sent] == [2]
    assert len(world.accounts.rows) == 2


def test_the_record_of_written_pairs_stays_bounded() -> None:
    written = AccountsWritten(limit=3)
    written.remember("t1", 1, {("a", "c1"), ("a", "c2")})
    written.remember("t1", 1, {("a", "c3"), ("a", "c4")})  # over the limit: forgets, then keeps these
    assert written.unwritten("t1", 1, {("a", "c1"), ("a", "c3")}) == {("a", "c1")}
    assert written.unwritten("t1", 2, {("a", "c3")}) == {("a", "c3")}


def test_running_a_window_again_writes_the_same_rows_and_counts(world: IngestionWorld) -> None:
    user = world.users[0]
    world.grant()
    fill_mailbox(world, user)
    run_backfill(world, user)
    first = world.cursors.get(world.tenant_id, user, BACKFILL)
    rows, count = slice_of(world, user), stored_rows(world)
    world.clock.advance(timedelta(hours=1))
    assert run_backfill(world, user) == "succeeded"
    again = world.cursors.get(world.tenant_id, user, BACKFILL)
    assert first is not None
    assert again is not None
    assert (slice_of(world, user), stored_rows(world)) == (rows, count)
    assert count == 4 + 4
    assert (again.counts, again.attempts) == (first.counts, 2)


def test_a_message_in_two_mailboxes_is_one_row_in_each_slice_with_the_same_key(world: IngestionWorld) -> None:
    alice, bob = world.users
    world.grant()
    shared = "<one@fabrikam.example>"
    for user in (alice, bob):
        world.deliver(user, message(user, BUYER, [world.address(alice), world.address(bob)], T0 - DAY,
                                    internet_message_id=shared))  # fmt: skip
        run_backfill(world, user)
    (a,), (b,) = slice_of(world, alice), slice_of(world, bob)
    assert a.key == b.key
    assert {i.user_id for i in world.contacts.interactions(world.tenant_id, hashed(world, BUYER))} == {
        alice,
        bob,
    }


def test_an_incremental_window_reads_new_mail_through_the_delta_link_it_kept(world: IngestionWorld) -> None:
    user = world.users[0]
    own = world.address(user)
    world.grant()
    world.deliver(user, message(user, BUYER, [own], T0 - 2 * DAY), message(user, BUYER, [own], T0 - 3 * DAY))
    assert world.worker.run(world.window(user, INCREMENTAL, T0 - 2 * DAY, None)) == "succeeded"
    first = world.cursors.get(world.tenant_id, user, INCREMENTAL)
    assert first is not None
    assert (first.counts["messages"], first.delta_link, first.end) == (1, "delta:2", T0)
    world.deliver(user, message(user, BUYER, [own], T0 + timedelta(minutes=5)))
    world.clock.advance(timedelta(hours=1))
    world.worker.run(world.window(user, INCREMENTAL, T0, None))
    second = world.cursors.get(world.tenant_id, user, INCREMENTAL)
    assert second is not None
    assert (second.counts["messages"], second.delta_link, second.end) == (
        1,
        "delta:3",
        T0 + timedelta(hours=1),
    )
    assert len(slice_of(world, user)) == 2


def planned_meetings(world: IngestionWorld, user: str) -> set[Interaction]:
    return {i for i in slice_of(world, user) if i.kind == "meeting" and i.at > T0}


def test_the_newest_backfill_window_stores_the_meetings_planned_in_the_next_ninety_days(
    world: IngestionWorld,
) -> None:
    user = world.users[0]
    own = world.address(user)
    world.grant()
    soon = meeting(user, own, [BUYER], T0 + 14 * DAY, minutes=30)
    world.deliver(user, soon, meeting(user, own, [PARTNER], T0 + 120 * DAY, minutes=30))
    run_backfill(world, user)
    assert {i.contact for i in planned_meetings(world, user)} == {hashed(world, BUYER)}
    assert {i.contact for i in world.contacts.interactions(world.tenant_id, hashed(world, BUYER))} == {
        hashed(world, BUYER)
    }


def test_an_older_backfill_window_reads_no_calendar_ahead_of_its_end(world: IngestionWorld) -> None:
    user = world.users[0]
    own = world.address(user)
    world.grant()
    world.deliver(user, meeting(user, own, [BUYER], T0 + 14 * DAY, minutes=30))
    world.worker.run(world.window(user, "backfill-10", T0 - 60 * DAY, T0 - 30 * DAY))
    assert planned_meetings(world, user) == set()


def test_a_plan_the_next_read_ahead_no_longer_shows_is_dropped_from_the_slice_and_the_index(
    world: IngestionWorld,
) -> None:
    user = world.users[0]
    own = world.address(user)
    world.grant()
    world.deliver(user, meeting(user, own, [BUYER], T0 + 14 * DAY, minutes=30))
    run_backfill(world, user)
    assert len(planned_meetings(world, user)) == 1
    world.graph.meetings[user] = []  # moved out of the calendar or cancelled
    world.clock.advance(timedelta(hours=1))
    world.worker.run(world.window(user, INCREMENTAL, T0, None))
    cursor = world.cursors.get(world.tenant_id, user, INCREMENTAL)
    assert cursor is not None
    assert cursor.counts["plansWithdrawn"] == 1
    assert planned_meetings(world, user) == set()
    assert world.contacts.interactions(world.tenant_id, hashed(world, BUYER)) == []


def test_a_plan_still_on_the_calendar_is_kept_by_the_next_read_ahead(world: IngestionWorld) -> None:
    user = world.users[0]
    own = world.address(user)
    world.grant()
    world.deliver(user, meeting(user, own, [BUYER], T0 + 14 * DAY, minutes=30))
    run_backfill(world, user)
    world.clock.advance(timedelta(hours=1))
    world.worker.run(world.window(user, INCREMENTAL, T0, None))
    cursor = world.cursors.get(world.tenant_id, user, INCREMENTAL)
    assert cursor is not None
    assert "plansWithdrawn" not in cursor.counts
    assert len(planned_meetings(world, user)) == 1


# --- who is never read ------------------------------------------------------------------------------------


def test_without_consent_nothing_is_read_or_written(world: IngestionWorld) -> None:
    user = world.users[0]
    fill_mailbox(world, user)
    assert run_backfill(world, user) == "skipped"
    assert world.graph.calls == []
    assert stored_rows(world) == 0
    assert world.cursors.get(world.tenant_id, user, BACKFILL) is None


def test_a_user_who_opted_out_is_not_read_and_nothing_of_theirs_is_written(world: IngestionWorld) -> None:
    user = world.users[0]
    world.grant()
    fill_mailbox(world, user)
    world.opt_out(user)
    assert run_backfill(world, user) == "skipped"
    assert world.graph.calls == []
    assert stored_rows(world) == 0
    assert world.cursors.get(world.tenant_id, user, BACKFILL) is None
    entry = world.audit.of(world.tenant_id)[0]
    assert (entry.kind, entry.outcome, entry.detail) == (
        "ingestion.window",
        "skipped",
        f"{BACKFILL}: user-opted-out",
    )


def test_a_member_of_an_opted_out_group_is_not_read_while_a_colleague_is(world: IngestionWorld) -> None:
    member, colleague = world.users
    world.grant()
    fill_mailbox(world, member)
    fill_mailbox(world, colleague)
    world.opt_out_groups(world.group([member]))
    world.resolve_membership()
    world.graph.calls.clear()
    assert (run_backfill(world, member), run_backfill(world, colleague)) == ("skipped", "succeeded")
    assert not [c for c in world.graph.calls if c.endswith(member)]
    assert stored_rows(world) == 4 + 4
    assert slice_of(world, member) == set()


def test_while_group_membership_is_unknown_nothing_is_read_and_the_resolution_is_asked_for(
    world: IngestionWorld,
) -> None:
    user = world.users[0]
    world.grant()
    fill_mailbox(world, user)
    world.opt_out_groups(world.group([]))  # nobody is in it, but nobody can know that before it is resolved
    world.queues.consume()
    with pytest.raises(MembershipPending):
        run_backfill(world, user)
    assert world.graph.calls == []
    assert world.queues.membership == [{"type": "groups.resolve", "tenantId": world.tenant_id}]
    assert world.cursors.get(world.tenant_id, user, BACKFILL) is None
    world.resolve_membership()
    assert run_backfill(world, user) == "succeeded"


# --- failures ---------------------------------------------------------------------------------------------


def test_a_graph_failure_fails_the_cursor_writes_nothing_and_is_raised_for_the_host_to_retry(
    world: IngestionWorld,
) -> None:
    user = world.users[0]
    world.grant()
    fill_mailbox(world, user)
    world.graph.failures[user] = GraphFailure(GraphThrottled("429 after retries"), after_pages=1)
    with pytest.raises(GraphThrottled):
        run_backfill(world, user)  # the mail page was read; the calendar failed
    cursor = world.cursors.get(world.tenant_id, user, BACKFILL)
    assert cursor is not None
    assert (cursor.status, cursor.error) == ("failed", "GraphThrottled")
    assert dict(cursor.counts) == {"messages": 2, "meetings": 0, "interactions": 0}
    assert stored_rows(world) == 0
    assert world.accounts.rows == {}


# What Graph says in an error body can quote an address; the window's cursor and audit entry must not.
SENTINEL = "sentinel.contact@fabrikam.example"


def failed_window_records(world: IngestionWorld, error: Exception) -> tuple[str | None, str | None]:
    """Run a backfill that fails with `error`: the cursor's stored error and the audit entry's detail."""
    user = world.users[0]
    world.grant()
    fill_mailbox(world, user)
    world.graph.failures[user] = GraphFailure(error)
    with pytest.raises(type(error)):
        run_backfill(world, user)
    cursor = world.cursors.get(world.tenant_id, user, BACKFILL)
    assert cursor is not None
    assert cursor.status == "failed"
    [entry] = [e for e in world.audit.of(world.tenant_id) if e.kind == "ingestion.window"]
    return cursor.error, entry.detail


def test_a_failed_window_stores_no_text_of_graphs_error_body(world: IngestionWorld) -> None:
    """Tried: Graph's error message quotes an address (as the adapter's error text carries it)."""
    error = GraphError(f"Graph answered 400 ErrorInvalidRecipients: {SENTINEL} is not valid")
    stored_error, audited = failed_window_records(world, error)
    assert (stored_error, audited) == ("GraphError", f"{BACKFILL}: GraphError")
    assert SENTINEL not in f"{stored_error} {audited}"


def test_a_failed_window_stores_graphs_status_and_code_for_the_operator(world: IngestionWorld) -> None:
    error = GraphError(
        f"Graph answered 400 ErrorInvalidRecipients: {SENTINEL}", status=400, code="ErrorInvalidRecipients"
    )
    stored_error, audited = failed_window_records(world, error)
    assert stored_error == "GraphError (Graph 400 ErrorInvalidRecipients)"
    assert audited == f"{BACKFILL}: {stored_error}"


def test_a_code_that_is_not_an_identifier_is_not_stored(world: IngestionWorld) -> None:
    stored_error, audited = failed_window_records(world, GraphError("x", status=400, code=SENTINEL))
    assert stored_error == "GraphError (Graph 400)"
    assert SENTINEL not in f"{stored_error} {audited}"


def test_a_failed_window_names_the_field_graph_sent_malformed_but_not_its_value(
    world: IngestionWorld,
) -> None:
    broken = b'{"value": [{"id": "AAMk1", "receivedDateTime": "' + SENTINEL.encode() + b'"}]}'
    with pytest.raises(GraphMalformedResponse) as raised:
        parse_messages_page(broken, world.users[0])
    stored_error, audited = failed_window_records(world, raised.value)
    assert stored_error == "GraphMalformedResponse (message.receivedDateTime is not an ISO 8601 date-time)"
    assert SENTINEL not in f"{stored_error} {audited}"


def test_a_failed_window_lands_when_it_is_retried(world: IngestionWorld) -> None:
    user = world.users[0]
    world.grant()
    fill_mailbox(world, user)
    world.graph.failures[user] = GraphFailure(GraphMalformedResponse("bad JSON"))
    with pytest.raises(GraphMalformedResponse):
        run_backfill(world, user)
    del world.graph.failures[user]
    assert run_backfill(world, user) == "succeeded"
    cursor = world.cursors.get(world.tenant_id, user, BACKFILL)
    assert cursor is not None
    assert (cursor.status, cursor.error, cursor.attempts) == ("succeeded", None, 2)
    assert len(slice_of(world, user)) == 4


def test_rows_flushed_before_a_graph_failure_stay_until_the_retry_rewrites_them_once() -> None:
    """A failure is not a fence change: what was flushed is not taken back (the retry overwrites the same
    keys, and insights say `partial` while the window is failed)."""
    world = IngestionWorld(T0, users=1, ingestion_flush=1)
    user = world.users[0]
    world.grant()
    fill_mailbox(world, user)
    world.graph.failures[user] = GraphFailure(GraphThrottled("429"), after_pages=1)
    with pytest.raises(GraphThrottled):
        run_backfill(world, user)
    assert {i.kind for i in slice_of(world, user)} == {"email"}
    assert len(slice_of(world, user)) == 3
    del world.graph.failures[user]
    run_backfill(world, user)
    assert len(slice_of(world, user)) == 4
    assert stored_rows(world) == 4 + 4


def test_a_user_gone_from_graph_ends_skipped_and_is_not_raised(world: IngestionWorld) -> None:
    user = world.users[0]
    world.grant()
    world.graph.failures[user] = GraphFailure(GraphNotFound("404"))
    assert run_backfill(world, user) == "skipped"
    cursor = world.cursors.get(world.tenant_id, user, BACKFILL)
    assert cursor is not None
    assert (cursor.status, cursor.error) == ("skipped", "user-or-mailbox-gone")


# --- revocation wins --------------------------------------------------------------------------------------


@dataclass
class ChangingGraph(DirectoryGraph):
    """Runs `change` once the mail was read, as an admin or a user acting while the window runs."""

    change: Callable[[], None] | None = None

    async def messages(
        self, tenant_id: str, user_id: str, start: datetime, end: datetime
    ) -> AsyncIterator[list[MessageMeta]]:
        async for page in super().messages(tenant_id, user_id, start, end):
            yield page
        if self.change is not None:
            self.change()


@pytest.mark.parametrize("change", ["opt-out", "revoke"])
def test_a_change_mid_window_takes_back_every_row_the_window_wrote(change: str) -> None:
    world = IngestionWorld(T0, users=1, ingestion_flush=1)  # the mail is written before the change
    user = world.users[0]
    act = (lambda: world.opt_out(user)) if change == "opt-out" else world.revoke
    world.graph = ChangingGraph(world.graph.users, change=act)
    world.grant()
    fill_mailbox(world, user)
    assert run_backfill(world, user) == "revoked"
    assert stored_rows(world) == 0
    assert world.cursors.get(world.tenant_id, user, BACKFILL) is None  # excluded now: the purge's too
    entry = world.audit.of(world.tenant_id)[0]
    assert (entry.outcome, entry.counts["rowsTakenBack"]) == ("revoked", 3 + 3)


# --- the invariant ----------------------------------------------------------------------------------------

FOUR = 4


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(("in", "opted-out", "group")), min_size=FOUR, max_size=FOUR))
def test_whoever_is_opted_out_nothing_of_theirs_is_read_stored_or_backed_up(status: list[str]) -> None:
    world = IngestionWorld(T0, users=FOUR)
    shared = "<to-everyone@fabrikam.example>"
    for user in world.users:
        fill_mailbox(world, user)
        world.deliver(user, message(user, BUYER, [world.address(u) for u in world.users], T0 - 5 * DAY,
                                    internet_message_id=shared))  # fmt: skip
    world.grant()
    out = {u for u, s in zip(world.users, status, strict=True) if s != "in"}
    for user, how in zip(world.users, status, strict=True):
        if how == "opted-out":
            world.opt_out(user)
    if "group" in status:
        world.opt_out_groups(world.group(u for u, s in zip(world.users, status, strict=True) if s == "group"))
    world.drain(world.schedule())
    world.backup.back_up_tenant(world.tenant_id, world.now())

    kept = set(world.users) - out
    read = {
        call.split(":", 1)[1] for call in world.graph.calls if call.startswith(("messages:", "calendar:"))
    }
    assert read == kept
    assert {user for (_, user), rows in world.slices.rows.items() if rows} == kept
    indexed = {i.user_id for partition in world.contacts.rows.values() for i in partition.values()}
    assert indexed == kept
    assert {name.split("/")[1] for name in world.backups.written} == kept
    for user in kept:
        assert len(slice_of(world, user)) == 5


def test_a_window_asks_for_no_page_of_a_mailbox_once_its_owner_has_opted_out() -> None:
    """Tried: the owner opts out while the first of five pages is read, which takes as long as a fence may be
    old; the window takes its fence again before it asks for the next page, and stops reading."""
    world = IngestionWorld(T0, users=1)
    (user,) = world.users
    world.grant()
    for hour in range(5):
        sent = T0 - timedelta(days=3, hours=hour)
        world.deliver(user, message(user, "buyer@fabrikam.example", [world.address(user)], sent))
    window = next(w for w in world.schedule() if w.start <= T0 - timedelta(days=3) < (w.end or T0))
    served_after_opt_out: list[object] = []
    serve = world.graph.serve

    async def opting_out_while_the_first_page_is_read(user_id: str, pages: Any) -> AsyncIterator[Any]:
        opted_out = False
        async for page in serve(user_id, pages):
            if opted_out:
                served_after_opt_out.append(page)
            else:
                world.clock.advance(ingestion.FENCE_BETWEEN_PAGES)
                world.opt_out(user)
                opted_out = True
            yield page

    world.graph.serve = opting_out_while_the_first_page_is_read  # type: ignore[method-assign]
    assert world.worker.run(window) == "revoked"
    assert served_after_opt_out == []
