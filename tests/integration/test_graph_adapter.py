"""The Graph adapter (msgraph-sdk, raw pages) against the simulator over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Iterator
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest
from kiota_http.middleware.options import RetryHandlerOption

from functions.adapters.graph import GraphAdapter
from functions.adapters.graph_auth import StaticTokenCredential
from functions.adapters.graph_parse import MESSAGE_FIELDS
from functions.domain.errors import GraphError, GraphMalformedResponse, GraphNotFound, GraphThrottled
from functions.domain.metadata import MessageMeta
from graphsim.generate import TenantSpec
from graphsim.model import Address, User
from graphsim.server import GraphSimulator
from graphsim.tenant import Tenant

pytestmark = pytest.mark.integration

T = TypeVar("T")
SPEC = TenantSpec(seed=9, users=6, external_contacts=50, messages_per_user_per_month=15)
FAR = timedelta(days=3650)


@pytest.fixture
def sim() -> Iterator[GraphSimulator]:
    with GraphSimulator(Tenant(SPEC)) as running:
        yield running


def run(awaitable: Awaitable[T]) -> T:
    async def wrapped() -> T:
        return await awaitable

    return asyncio.run(wrapped())


@contextlib.asynccontextmanager
async def connected(sim: GraphSimulator, **options: Any) -> AsyncIterator[GraphAdapter]:
    retry = RetryHandlerOption(delay=0, max_retries=options.pop("max_retries", 3))
    adapter = GraphAdapter(
        sim.graph_url, lambda _tenant: StaticTokenCredential(sim.token), retry=retry, **options
    )
    try:
        yield adapter
    finally:
        await adapter.aclose()


def mailbox(sim: GraphSimulator) -> User:
    return next(u for u in sim.tenant.users() if u.mail)


def expected_ids(sim: GraphSimulator, user_id: str, start: datetime, end: datetime) -> set[str]:
    return {c.graph_id for c in sim.tenant.mail_copies(user_id, start, end)}


async def collect(sim: GraphSimulator, user_id: str, start: datetime, end: datetime, **options: Any) -> list:
    async with connected(sim, **options) as graph:
        return [m async for page in graph.messages(sim.tenant.tenant_id, user_id, start, end) for m in page]


def year(sim: GraphSimulator) -> tuple[datetime, datetime]:
    return sim.tenant.spec.start, sim.tenant.spec.now + timedelta(days=1)


def test_a_window_is_read_completely_across_many_pages(sim: GraphSimulator) -> None:
    user = mailbox(sim)
    start, end = year(sim)
    messages = run(collect(sim, user.id, start, end, page_size=25))
    assert len(messages) > 100
    assert {m.message_id for m in messages} == expected_ids(sim, user.id, start, end)
    assert all(isinstance(m, MessageMeta) and m.mailbox_user_id == user.id for m in messages)
    assert len([r for r in sim.stats.records() if r.mailbox == user.id]) == -(-len(messages) // 25)


def test_a_window_bounds_what_is_read(sim: GraphSimulator) -> None:
    user = mailbox(sim)
    start = sim.tenant.spec.now - timedelta(days=60)
    end = sim.tenant.spec.now - timedelta(days=30)
    messages = run(collect(sim, user.id, start, end))
    assert messages
    assert all(start <= m.received_at < end for m in messages)
    assert {m.message_id for m in messages} == expected_ids(sim, user.id, start, end)


def test_only_metadata_fields_are_requested(sim: GraphSimulator) -> None:
    user = mailbox(sim)
    run(collect(sim, user.id, *year(sim)))
    (request,) = [r for r in sim.stats.records() if r.path.endswith("/messages")]
    selected = set(request.query["$select"].split(","))
    assert selected == set(MESSAGE_FIELDS)
    assert not selected & {"subject", "body", "bodyPreview", "uniqueBody", "attachments", "hasAttachments"}


def test_addresses_come_back_lower_cased(sim: GraphSimulator) -> None:
    messages = run(collect(sim, mailbox(sim).id, *year(sim)))
    addresses = [a for m in messages for a in (m.sender, *m.to, *m.cc)]
    assert any(a != a.upper() for a in addresses)
    assert all(a == a.lower() for a in addresses)


def test_a_429_storm_with_retry_after_still_ends_in_complete_data(sim: GraphSimulator) -> None:
    user = mailbox(sim)
    start, end = year(sim)
    sim.faults.update(throttle_every=2, retry_after=1)
    messages = run(collect(sim, user.id, start, end, page_size=60))
    assert {m.message_id for m in messages} == expected_ids(sim, user.id, start, end)
    records = [r for r in sim.stats.records() if r.mailbox == user.id]
    assert 429 in {r.status for r in records}
    # Every retry waited at least the Retry-After second the 429 asked for.
    for throttled, retried in itertools.pairwise(records):
        if throttled.status == 429:
            assert retried.at - throttled.at >= 0.95


def test_a_503_burst_still_ends_in_complete_data(sim: GraphSimulator) -> None:
    user = mailbox(sim)
    start, end = year(sim)
    sim.faults.update(unavailable_next=2, retry_after=0)
    messages = run(collect(sim, user.id, start, end))
    assert {m.message_id for m in messages} == expected_ids(sim, user.id, start, end)
    assert sim.stats.statuses[503] == 2


def test_throttling_beyond_the_retries_raises_graph_throttled(sim: GraphSimulator) -> None:
    sim.faults.update(throttle_next=100, retry_after=1)
    with pytest.raises(GraphThrottled):
        run(collect(sim, mailbox(sim).id, *year(sim), max_retries=1))
    assert sim.stats.statuses[429] == 2


def test_slow_pages_are_waited_for(sim: GraphSimulator) -> None:
    user = mailbox(sim)
    start, end = year(sim)
    sim.faults.update(delay=0.1)
    messages = run(collect(sim, user.id, start, end, page_size=50))
    assert {m.message_id for m in messages} == expected_ids(sim, user.id, start, end)


def test_at_most_four_requests_are_in_flight_per_mailbox(sim: GraphSimulator) -> None:
    first, second = [u for u in sim.tenant.users() if u.mail][:2]
    sim.faults.update(delay=0.15)
    now = sim.tenant.spec.now
    windows = [(now - timedelta(days=30 * (k + 1)), now - timedelta(days=30 * k)) for k in range(10)]

    async def scenario() -> None:
        async with connected(sim) as graph:

            async def drain(user: User, start: datetime, end: datetime) -> None:
                async for _ in graph.messages(sim.tenant.tenant_id, user.id, start, end):
                    pass

            await asyncio.gather(*(drain(u, s, e) for u in (first, second) for s, e in windows))

    run(scenario())
    assert sim.stats.max_in_flight[first.id] == 4
    assert sim.stats.max_in_flight[second.id] == 4  # the cap is per mailbox, not global


def test_an_unknown_user_raises_graph_not_found(sim: GraphSimulator) -> None:
    with pytest.raises(GraphNotFound):
        run(collect(sim, "00000000-0000-4000-8000-000000000000", *year(sim)))


def test_a_deleted_user_raises_graph_not_found(sim: GraphSimulator) -> None:
    user = mailbox(sim)
    sim.tenant.delete_user(user.id)
    with pytest.raises(GraphNotFound):
        run(collect(sim, user.id, *year(sim)))


def test_a_malformed_page_raises_graph_malformed_response(sim: GraphSimulator) -> None:
    user = mailbox(sim)
    sim.faults.update(malformed_users=[user.id])
    with pytest.raises(GraphMalformedResponse):
        run(collect(sim, user.id, *year(sim)))


def test_a_wrong_token_is_a_graph_error_not_a_kiota_exception(sim: GraphSimulator) -> None:
    async def scenario() -> None:
        graph = GraphAdapter(
            sim.graph_url, lambda _t: StaticTokenCredential("wrong"), retry=RetryHandlerOption(delay=0)
        )
        try:
            await graph.verified_domains(sim.tenant.tenant_id)
        finally:
            await graph.aclose()

    with pytest.raises(GraphError) as caught:
        run(scenario())
    assert type(caught.value) is GraphError
    assert "401" in str(caught.value)


def test_a_tenant_id_that_is_not_a_guid_is_refused_before_any_request(sim: GraphSimulator) -> None:
    with pytest.raises(GraphError):
        run(_domains(sim, "contoso.com"))
    assert sim.stats.requests == 0


async def _domains(sim: GraphSimulator, tenant_id: str) -> list[str]:
    async with connected(sim) as graph:
        return await graph.verified_domains(tenant_id)


def test_directory_users_and_verified_domains(sim: GraphSimulator) -> None:
    async def scenario() -> tuple[list, list[str]]:
        async with connected(sim) as graph:
            users = [u async for u in graph.list_users(sim.tenant.tenant_id)]
            return users, await graph.verified_domains(sim.tenant.tenant_id)

    users, domains = run(scenario())
    assert [u.user_id for u in users] == [u.id for u in sim.tenant.users()]
    assert all(u.mail == u.mail.lower() for u in users)
    assert domains == ["contoso.com", "sales.contoso.com"]


def test_transitive_members_include_nested_groups_and_follow_changes(sim: GraphSimulator) -> None:
    tenant = sim.tenant
    all_staff, emea = tenant.group_named("All Staff").id, tenant.group_named("Sales EMEA").id

    async def members(group_id: str) -> set[str]:
        async with connected(sim) as graph:
            return {u async for u in graph.transitive_user_members(tenant.tenant_id, group_id)}

    assert run(members(all_staff)) == {u.id for u in tenant.users()}
    outsider = next(u.id for u in tenant.users() if u.id not in run(members(emea)))
    legal = tenant.group_named("Legal Hold").id
    tenant.add_to_group(legal, outsider)
    assert outsider in run(members(legal))
    tenant.remove_from_group(legal, outsider)
    assert outsider not in run(members(legal))


def test_calendar_view_returns_meetings_in_utc_with_attendees(sim: GraphSimulator) -> None:
    user = mailbox(sim)
    start, end = year(sim)

    async def scenario() -> list:
        async with connected(sim, page_size=7) as graph:
            return [
                e
                async for page in graph.calendar_view(sim.tenant.tenant_id, user.id, start, end)
                for e in page
            ]

    meetings = run(scenario())
    assert {m.event_id for m in meetings} == {
        c.graph_id for c in sim.tenant.event_copies(user.id, start, end)
    }
    assert all(m.start.utcoffset() == timedelta(0) and m.end > m.start for m in meetings)
    assert any(m.attendees for m in meetings)
    calendar_requests = [r for r in sim.stats.records() if r.path.endswith("/calendarView")]
    assert len(calendar_requests) > 1


def test_delta_returns_everything_since_then_only_changes_then_nothing(sim: GraphSimulator) -> None:
    tenant = sim.tenant
    user = mailbox(sim)
    since = tenant.spec.now - timedelta(days=20)

    async def round_(link: str | None) -> tuple[list[MessageMeta], str]:
        async with connected(sim, page_size=10) as graph:
            delta = graph.messages_delta(tenant.tenant_id, user.id, link, since)
            messages = [m async for page in delta.pages() for m in page]
            return messages, delta.delta_link

    first, link = run(round_(None))
    assert {m.message_id for m in first} == expected_ids(sim, user.id, since, tenant.spec.now + FAR)
    mail = tenant.add_mail(Address("Pat", "pat@fabrikam.com"), (Address(user.display_name, str(user.mail)),))
    second, link = run(round_(link))
    assert [m.internet_message_id for m in second] == [mail.internet_message_id]
    third, _ = run(round_(link))
    assert third == []


def test_delta_link_is_only_available_after_the_round_is_read(sim: GraphSimulator) -> None:
    async def scenario() -> None:
        async with connected(sim) as graph:
            delta = graph.messages_delta(sim.tenant.tenant_id, mailbox(sim).id, None, sim.tenant.spec.now)
            with pytest.raises(RuntimeError):
                _ = delta.delta_link

    run(scenario())


def test_one_adapter_survives_being_used_from_successive_event_loops(sim: GraphSimulator) -> None:
    graph = GraphAdapter(
        sim.graph_url, lambda _t: StaticTokenCredential(sim.token), retry=RetryHandlerOption(delay=0)
    )

    async def domains() -> list[str]:
        try:
            return await graph.verified_domains(sim.tenant.tenant_id)
        finally:
            await graph.aclose()

    assert run(domains()) == run(domains())
