"""The Graph adapter's behaviour on Graph's wire format, through httpx's MockTransport under the SDK's own
middleware (retry included): paging, throttling, errors, what is asked for, and the per-mailbox cap."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, TypeVar

import httpx
import pytest
from kiota_http.middleware import retry_handler
from kiota_http.middleware.options import RetryHandlerOption

from functions.adapters.graph import GraphAdapter
from functions.adapters.graph_auth import StaticTokenCredential
from functions.adapters.graph_parse import MESSAGE_FIELDS
from functions.domain.errors import (
    GraphError,
    GraphMalformedResponse,
    GraphNotFound,
    GraphThrottled,
    failure_summary,
)
from functions.domain.metadata import MessageMeta
from functions.domain.times import rfc3339_seconds

T = TypeVar("T")
GRAPH = "https://graph.microsoft.com/v1.0"
TENANT = "7f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f"
ALICE = "11111111-1111-4111-8111-111111111111"
BOB = "22222222-2222-4222-8222-222222222222"
GROUP = "99999999-9999-4999-8999-999999999999"
START = datetime(2025, 3, 1, tzinfo=UTC)
END = datetime(2025, 4, 1, tzinfo=UTC)
TOKEN = "token-for-graph"
Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


# --- Graph's wire format ------------------------------------------------------------------------------------


def message(n: int, *, received: datetime = START) -> dict[str, Any]:
    return {
        "id": f"AAMk-{n}",
        "internetMessageId": f"<{n}@fabrikam.example>",
        "conversationId": f"conv-{n}",
        "from": {"emailAddress": {"name": "Pat", "address": "Pat@Fabrikam.example"}},
        "sender": {"emailAddress": {"name": "Pat", "address": "Pat@Fabrikam.example"}},
        "toRecipients": [{"emailAddress": {"name": "Alice", "address": "alice@contoso.example"}}],
        "ccRecipients": [],
        "bccRecipients": [],
        "sentDateTime": rfc3339_seconds(received),
        "receivedDateTime": rfc3339_seconds(received),
        "isDraft": False,
    }


def page(values: list[Any], **links: str) -> httpx.Response:
    body: dict[str, Any] = {"@odata.context": f"{GRAPH}/$metadata#Collection", "value": values}
    body.update({f"@odata.{name}": link for name, link in links.items()})
    return httpx.Response(200, json=body)


def graph_error(status: int, code: str, text: str, **headers: str) -> httpx.Response:
    body = {"error": {"code": code, "message": text, "innerError": {"request-id": "5c1e-0d2f"}}}
    return httpx.Response(status, json=body, headers=headers)


def throttled(retry_after: int = 2) -> httpx.Response:
    text = "Application is over its MailboxConcurrency limit."
    return graph_error(429, "ApplicationThrottled", text, **{"Retry-After": str(retry_after)})


def mailbox_of(request: httpx.Request) -> str:
    parts = request.url.path.split("/")
    return parts[parts.index("users") + 1]


# --- the adapter over a mock transport ----------------------------------------------------------------------


@dataclass
class Wire:
    """What the adapter sent, in order."""

    requests: list[httpx.Request] = field(default_factory=list)
    transports: list[httpx.MockTransport] = field(default_factory=list)

    def adapter(self, handler: Handler, *, max_retries: int = 3) -> GraphAdapter:
        async def recorded(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            response = handler(request)
            return await response if isinstance(response, Awaitable) else response

        def transport() -> httpx.MockTransport:
            self.transports.append(httpx.MockTransport(recorded))
            return self.transports[-1]

        return GraphAdapter(
            GRAPH,
            lambda _tenant: StaticTokenCredential(TOKEN),
            retry=RetryHandlerOption(delay=0, max_retries=max_retries),
            transport_factory=transport,
        )


@pytest.fixture
def wire() -> Wire:
    return Wire()


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The retry middleware's waits, recorded instead of slept, so a Retry-After costs the test nothing."""
    asked: list[float] = []

    async def sleep(seconds: float) -> None:
        asked.append(seconds)

    monkeypatch.setattr(retry_handler, "asyncio", SimpleNamespace(sleep=sleep))
    return asked


def run(graph: GraphAdapter, work: Callable[[GraphAdapter], Awaitable[T]]) -> T:
    async def scenario() -> T:
        try:
            return await work(graph)
        finally:
            await graph.aclose()

    return asyncio.run(scenario())


async def read_messages(graph: GraphAdapter, user_id: str = ALICE) -> list[MessageMeta]:
    return [m async for p in graph.messages(TENANT, user_id, START, END) for m in p]


async def drain(pages: AsyncIterator[Any]) -> None:
    async for _ in pages:
        pass


# --- paging and what is asked for ---------------------------------------------------------------------------


def test_a_listing_follows_absolute_next_links_to_the_last_page(wire: Wire) -> None:
    second = f"{GRAPH}/users/{ALICE}/messages?$skiptoken=page-2"
    third = f"{GRAPH}/users/{ALICE}/messages?$skiptoken=page-3"
    pages = {
        None: page([message(1), message(2)], nextLink=second),
        "page-2": page([message(3)], nextLink=third),
        "page-3": page([message(4)]),
    }
    graph = wire.adapter(lambda r: pages[r.url.params.get("$skiptoken")])
    messages = run(graph, read_messages)
    assert [m.message_id for m in messages] == ["AAMk-1", "AAMk-2", "AAMk-3", "AAMk-4"]
    assert [str(r.url) for r in wire.requests[1:]] == [second, third]


def test_only_metadata_fields_are_selected_never_body_subject_or_preview(wire: Wire) -> None:
    run(wire.adapter(lambda _r: page([])), read_messages)
    (request,) = wire.requests
    selected = set(request.url.params["$select"].split(","))
    assert selected == set(MESSAGE_FIELDS)
    assert not selected & {"body", "subject", "bodyPreview", "uniqueBody", "attachments", "hasAttachments"}


def test_a_window_asks_for_mail_received_within_its_bounds_in_utc(wire: Wire) -> None:
    run(wire.adapter(lambda _r: page([])), read_messages)
    (request,) = wire.requests
    assert request.url.params["$filter"] == (
        "receivedDateTime ge 2025-03-01T00:00:00Z and receivedDateTime lt 2025-04-01T00:00:00Z"
    )
    assert request.url.params["$orderby"] == "receivedDateTime asc"


def test_the_tenants_token_is_sent_to_graph_as_a_bearer_token(wire: Wire) -> None:
    run(wire.adapter(lambda _r: page([])), read_messages)
    assert wire.requests[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_a_next_link_to_another_host_is_refused_before_anything_is_sent_there(wire: Wire) -> None:
    elsewhere = f"https://graph.example.net/v1.0/users/{ALICE}/messages?$skiptoken=2"
    graph = wire.adapter(lambda _r: page([message(1)], nextLink=elsewhere))
    with pytest.raises(GraphMalformedResponse, match="outside the configured Graph host"):
        run(graph, read_messages)
    assert {r.url.host for r in wire.requests} == {"graph.microsoft.com"}


# --- throttling and errors ----------------------------------------------------------------------------------


def test_a_429_is_retried_after_the_time_its_retry_after_asks_then_succeeds(
    wire: Wire, waits: list[float]
) -> None:
    answers = iter([throttled(retry_after=2), page([message(1)])])
    messages = run(wire.adapter(lambda _r: next(answers)), read_messages)
    assert [m.message_id for m in messages] == ["AAMk-1"]
    assert len(wire.requests) == 2
    assert waits == [2]


def test_a_429_that_never_ends_raises_graph_throttled_once_the_retries_are_spent(
    wire: Wire, waits: list[float]
) -> None:
    graph = wire.adapter(lambda _r: throttled(), max_retries=2)
    with pytest.raises(GraphThrottled, match="429 ApplicationThrottled"):
        run(graph, read_messages)
    assert len(wire.requests) == 3  # the first attempt and two retries
    assert waits == [2, 2]


def test_a_404_raises_graph_not_found(wire: Wire) -> None:
    graph = wire.adapter(lambda _r: graph_error(404, "ErrorInvalidUser", "The requested user is invalid."))
    with pytest.raises(GraphNotFound, match="404 ErrorInvalidUser"):
        run(graph, read_messages)
    assert len(wire.requests) == 1  # a 404 is not retried


def test_graphs_status_and_code_are_fields_of_the_error_and_its_summary_quotes_nothing_else(
    wire: Wire,
) -> None:
    """Tried: an error body whose message quotes an address; the stored summary keeps status and code only."""
    text = "Recipient sentinel.contact@fabrikam.example is not valid."
    graph = wire.adapter(lambda _r: graph_error(400, "ErrorInvalidRecipients", text))
    with pytest.raises(GraphError) as raised:
        run(graph, read_messages)
    assert (raised.value.status, raised.value.code) == (400, "ErrorInvalidRecipients")
    assert failure_summary(raised.value) == "GraphError (Graph 400 ErrorInvalidRecipients)"


def test_a_throttled_error_keeps_its_status_and_code(wire: Wire, waits: list[float]) -> None:
    with pytest.raises(GraphThrottled) as raised:
        run(wire.adapter(lambda _r: throttled(), max_retries=0), read_messages)
    assert failure_summary(raised.value) == "GraphThrottled (Graph 429 ApplicationThrottled)"


def test_a_page_that_is_not_json_raises_graph_malformed_response(wire: Wire) -> None:
    graph = wire.adapter(
        lambda _r: httpx.Response(200, content=b'{"value": [', headers={"content-type": "application/json"})
    )
    with pytest.raises(GraphMalformedResponse, match="not JSON"):
        run(graph, read_messages)


# --- the per-mailbox cap ------------------------------------------------------------------------------------


def in_flight_counter() -> tuple[Handler, Counter[str]]:
    """A slow Graph that remembers the most requests it had in flight at once for each mailbox."""
    now: Counter[str] = Counter()
    most: Counter[str] = Counter()

    async def handler(request: httpx.Request) -> httpx.Response:
        mailbox = mailbox_of(request)
        now[mailbox] += 1
        most[mailbox] = max(most[mailbox], now[mailbox])
        await asyncio.sleep(0.02)
        now[mailbox] -= 1
        return page([])

    return handler, most


def windows_of(users: list[str], per_user: int) -> Callable[[GraphAdapter], Awaitable[Any]]:
    """Every user's `per_user` monthly windows, all read at once."""
    months = [(START + timedelta(days=30 * k), START + timedelta(days=30 * (k + 1))) for k in range(per_user)]
    return lambda g: asyncio.gather(
        *(drain(g.messages(TENANT, user, start, end)) for user in users for start, end in months)
    )


def test_at_most_four_requests_are_in_flight_per_mailbox(wire: Wire) -> None:
    handler, most = in_flight_counter()
    run(wire.adapter(handler), windows_of([ALICE], per_user=10))
    assert len(wire.requests) == 10
    assert most[ALICE] == 4


def test_the_cap_is_per_mailbox_so_two_mailboxes_are_read_side_by_side(wire: Wire) -> None:
    handler, most = in_flight_counter()
    run(wire.adapter(handler), windows_of([ALICE, BOB], per_user=6))
    assert most == {ALICE: 4, BOB: 4}


# --- directory and delta ------------------------------------------------------------------------------------


def test_transitive_members_are_the_users_of_the_graph_user_cast_across_pages(wire: Wire) -> None:
    base = f"{GRAPH}/groups/{GROUP}/transitiveMembers/graph.user"
    answers = iter([page([{"id": ALICE}], nextLink=f"{base}?$skiptoken=2"), page([{"id": BOB}])])

    async def members(graph: GraphAdapter) -> list[str]:
        return [u async for u in graph.transitive_user_members(TENANT, GROUP)]

    assert run(wire.adapter(lambda _r: next(answers)), members) == [ALICE, BOB]
    first = wire.requests[0]
    assert first.url.path == f"/v1.0/groups/{GROUP}/transitiveMembers/graph.user"
    assert first.url.params["$select"] == "id"


def delta_link(folder: str, token: str) -> str:
    return f"{GRAPH}/users/{ALICE}/mailFolders/{folder}/messages/delta()?$deltatoken={token}"


def delta_graph(request: httpx.Request) -> httpx.Response:
    """Inbox: two pages (a new message, then one removed); sent items: one page; each ends in a deltaLink."""
    folder = request.url.path.split("/")[-3]
    if folder == "inbox" and "$skiptoken" not in request.url.params:
        after = f"{GRAPH}/users/{ALICE}/mailFolders/inbox/messages/delta()?$skiptoken=inbox-2"
        return page([message(1)], nextLink=after)
    if folder == "inbox":
        return page(
            [{"id": "AAMk-gone", "@removed": {"reason": "deleted"}}], deltaLink=delta_link("inbox", "i1")
        )
    return page([message(2)], deltaLink=delta_link("sentitems", "s1"))


async def delta_round(graph: GraphAdapter, link: str | None) -> tuple[list[MessageMeta], list[str], str]:
    delta = graph.messages_delta(TENANT, ALICE, link, START)
    messages = [m async for p in delta.pages() for m in p]
    return messages, delta.removed_ids, delta.delta_link


def test_a_delta_round_reads_each_folder_to_its_delta_link_and_reports_removed_messages(wire: Wire) -> None:
    messages, removed, link = run(wire.adapter(delta_graph), lambda g: delta_round(g, None))
    assert [m.message_id for m in messages] == ["AAMk-1", "AAMk-2"]
    assert removed == ["AAMk-gone"]
    assert json.loads(link) == {
        "inbox": delta_link("inbox", "i1"),
        "sentitems": delta_link("sentitems", "s1"),
    }
    first = wire.requests[0]
    assert first.url.path == f"/v1.0/users/{ALICE}/mailFolders/inbox/messages/delta()"
    assert first.url.params["$filter"] == "receivedDateTime ge 2025-03-01T00:00:00Z"
    assert set(first.url.params["$select"].split(",")) == set(MESSAGE_FIELDS)


def test_the_next_delta_round_starts_from_the_stored_delta_links(wire: Wire) -> None:
    stored = json.dumps({"inbox": delta_link("inbox", "i1"), "sentitems": delta_link("sentitems", "s1")})
    answers = iter(
        [page([], deltaLink=delta_link("inbox", "i2")), page([], deltaLink=delta_link("sentitems", "s2"))]
    )
    messages, _, link = run(wire.adapter(lambda _r: next(answers)), lambda g: delta_round(g, stored))
    assert messages == []
    assert [str(r.url) for r in wire.requests] == [delta_link("inbox", "i1"), delta_link("sentitems", "s1")]
    assert json.loads(link) == {
        "inbox": delta_link("inbox", "i2"),
        "sentitems": delta_link("sentitems", "s2"),
    }


# --- the transport seam -------------------------------------------------------------------------------------


def test_each_event_loop_gets_its_own_transport_from_the_factory(wire: Wire) -> None:
    graph = wire.adapter(lambda _r: page([]))
    run(graph, read_messages)
    run(graph, read_messages)
    assert len(wire.transports) == 2
