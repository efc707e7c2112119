"""Microsoft Graph, read through msgraph-sdk: directory, mail metadata, calendars, mail delta.

Requests are built with the SDK's request builders and sent through its request adapter (so its retry
middleware honours `Retry-After` on 429/503/504), but bulk pages come back as raw bytes and are parsed by
`graph_parse` (the generated models parse ~150 messages/s, raw JSON tens of thousands). Listings are async
iterators of pages, so a mailbox is never held in memory whole.

At most `max_concurrent_per_mailbox` (4, Outlook's limit) requests are in flight per (tenant, mailbox) in
this process, however many windows of that mailbox run at once. SDK and HTTP exceptions are translated
here into `GraphNotFound`, `GraphThrottled`, `GraphMalformedResponse` and `GraphError`, which carry Graph's
HTTP status and error code as fields (`functions.domain.errors.failure_summary` stores only those).

The HTTP transport under the SDK's middleware comes from `transport_factory` (a connection pool by
default; httpx's `MockTransport` in unit tests): the retry middleware wraps whichever it is, so tests of
paging, throttling and errors exercise the same stack as production.

One adapter serves one event loop at a time; if it is used from a new loop (e.g. `asyncio.run` per queue
message) it rebuilds its HTTP client, credentials and semaphores rather than reuse loop-bound ones. Call
`aclose()` before a loop ends, or its connections are left for the garbage collector.
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import ClientAuthenticationError
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from kiota_http.middleware.options import RetryHandlerOption
from msgraph.generated.groups.item.transitive_members.graph_user.graph_user_request_builder import (
    GraphUserRequestBuilder,
)
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.users.item.calendar_view.calendar_view_request_builder import (
    CalendarViewRequestBuilder,
)
from msgraph.generated.users.item.mail_folders.item.messages.delta.delta_request_builder import (
    DeltaRequestBuilder,
)
from msgraph.generated.users.item.messages.messages_request_builder import MessagesRequestBuilder
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_service_client import GraphServiceClient
from msgraph_core import GraphClientFactory

from functions.adapters.graph_auth import SharedGraphTokens, credential_for_tenant
from functions.adapters.graph_parse import (
    EVENT_FIELDS,
    MESSAGE_FIELDS,
    USER_FIELDS,
    DeltaPage,
    parse_delta_page,
    parse_domains,
    parse_events_page,
    parse_ids_page,
    parse_messages_page,
    parse_users_page,
)
from functions.adapters.graph_subscriptions import GraphSubscriptions
from functions.domain.errors import GraphError, GraphMalformedResponse, GraphNotFound, GraphThrottled
from functions.domain.metadata import DirectoryUser, MeetingMeta, MessageMeta
from functions.domain.times import rfc3339_seconds
from functions.settings import Settings

T = TypeVar("T")

MAX_CONCURRENT_PER_MAILBOX = 4  # Outlook's per-mailbox concurrency limit
_ERROR_MAP: dict[str, Any] = {"XXX": ODataError}
_UTC_EVENTS = 'outlook.timezone="UTC"'
# Delta is per folder: received mail is in the inbox, our side of a conversation in sent items.
DELTA_FOLDERS = ("inbox", "sentitems")


@dataclass
class _LoopState:
    loop: asyncio.AbstractEventLoop
    http: httpx.AsyncClient
    transport: httpx.AsyncBaseTransport  # the pool under the SDK's middleware (which does not close it)
    clients: dict[str, GraphServiceClient] = field(default_factory=dict)
    adapters: dict[str, GraphRequestAdapter] = field(default_factory=dict)
    credentials: list[AsyncTokenCredential] = field(default_factory=list)
    semaphores: dict[tuple[str, str], asyncio.Semaphore] = field(default_factory=dict)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process: building it loads the CA bundle (about 50 ms), which every
    window's transport paid again. A context is safe to share between connections and event loops."""
    return httpx.create_ssl_context()


def _default_transport() -> httpx.AsyncBaseTransport:
    return httpx.AsyncHTTPTransport(verify=_tls_context())


class GraphAdapter(GraphSubscriptions):
    def __init__(
        self,
        base_url: str,
        credential_for: Callable[[str], AsyncTokenCredential],
        *,
        retry: RetryHandlerOption | None = None,
        max_concurrent_per_mailbox: int = MAX_CONCURRENT_PER_MAILBOX,
        page_size: int = 1000,
        timeout_seconds: float = 60.0,
        transport_factory: Callable[[], httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        parts = urlsplit(self._base_url)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._host = parts.hostname or ""
        # Tokens are for Graph's resource; a sovereign cloud has its own (https://graph.microsoft.us).
        self._scopes = [
            f"{self._origin}/.default" if parts.scheme == "https" else "https://graph.microsoft.com/.default"
        ]
        self._credential_for = credential_for
        self._retry = retry or RetryHandlerOption()
        self._max_per_mailbox = max_concurrent_per_mailbox
        self._page_size = page_size
        self._timeout = timeout_seconds
        # A factory, not a transport: each event loop gets its own, and `aclose()` closes it.
        self._transport_factory = transport_factory or _default_transport
        self._state: _LoopState | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        retry: RetryHandlerOption | None = None,
        tokens: SharedGraphTokens | None = None,
    ) -> GraphAdapter:
        """An adapter configured by settings. Pass the process's `tokens` (the composition root keeps one) so
        that the windows of a tenant share its Graph tokens instead of each asking Entra ID for its own."""
        shared = tokens or SharedGraphTokens(partial(credential_for_tenant, settings))
        return cls(settings.graph_base_url, shared.credential_for, retry=retry)

    # --- public API ---------------------------------------------------------------------------------------

    async def list_users(self, tenant_id: str) -> AsyncIterator[DirectoryUser]:
        client = self.client(tenant_id)
        query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(select=list(USER_FIELDS), top=999)
        ri = client.users.to_get_request_information(RequestConfiguration(query_parameters=query))
        async for page in self.pages(tenant_id, None, ri, parse_users_page):
            for user in page:
                yield user

    async def verified_domains(self, tenant_id: str) -> list[str]:
        client = self.client(tenant_id)
        raw = await self.send(tenant_id, None, client.domains.to_get_request_information())
        return parse_domains(raw)

    async def transitive_user_members(self, tenant_id: str, group_id: str) -> AsyncIterator[str]:
        """IDs of the users in the group or in any group nested in it."""
        client = self.client(tenant_id)
        query = GraphUserRequestBuilder.GraphUserRequestBuilderGetQueryParameters(select=["id"], top=999)
        builder = client.groups.by_group_id(group_id).transitive_members.graph_user
        ri = builder.to_get_request_information(RequestConfiguration(query_parameters=query))
        async for page in self.pages(tenant_id, None, ri, parse_ids_page):
            for user_id in page:
                yield user_id

    async def messages(
        self, tenant_id: str, user_id: str, start: datetime, end: datetime
    ) -> AsyncIterator[list[MessageMeta]]:
        """Pages of the mailbox's messages received in [start, end), metadata fields only."""
        client = self.client(tenant_id)
        query = MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(
            select=list(MESSAGE_FIELDS),
            top=self._page_size,
            # Graph requires the $orderby property to come first in $filter.
            filter=(
                f"receivedDateTime ge {rfc3339_seconds(start)} and receivedDateTime lt {rfc3339_seconds(end)}"
            ),
            orderby=["receivedDateTime asc"],
        )
        ri = client.users.by_user_id(user_id).messages.to_get_request_information(
            RequestConfiguration(query_parameters=query)
        )
        async for page in self.pages(
            tenant_id, user_id, ri, partial(parse_messages_page, mailbox_user_id=user_id)
        ):
            yield page

    async def calendar_view(
        self, tenant_id: str, user_id: str, start: datetime, end: datetime
    ) -> AsyncIterator[list[MeetingMeta]]:
        """Pages of the calendar's events overlapping [start, end) (recurrences expanded), times in UTC."""
        client = self.client(tenant_id)
        query = CalendarViewRequestBuilder.CalendarViewRequestBuilderGetQueryParameters(
            start_date_time=rfc3339_seconds(start),
            end_date_time=rfc3339_seconds(end),
            select=list(EVENT_FIELDS),
            top=self._page_size,
        )
        config: RequestConfiguration[Any] = RequestConfiguration(query_parameters=query)
        config.headers.add("Prefer", _UTC_EVENTS)
        ri = client.users.by_user_id(user_id).calendar_view.to_get_request_information(config)
        parse = partial(parse_events_page, mailbox_user_id=user_id)
        async for page in self.pages(tenant_id, user_id, ri, parse, {"Prefer": _UTC_EVENTS}):
            yield page

    def messages_delta(
        self, tenant_id: str, user_id: str, delta_link: str | None, since: datetime
    ) -> MessagesDelta:
        """One round of change tracking; iterate `.pages()`, then store `.delta_link` for the next round.

        Without a delta link the round starts from `since` (received on or after). Delta is capped by Graph
        at 5,000 messages with a filter: use `messages()` for the 365-day backfill, delta for daily runs.
        """
        return MessagesDelta(self, tenant_id, user_id, delta_link, since)

    async def delta_round(
        self, tenant_id: str, user_id: str, previous: dict[str, str], since: datetime, links: dict[str, str]
    ) -> AsyncIterator[DeltaPage]:
        """The pages of one delta round over `DELTA_FOLDERS` (`MessagesDelta` is the friendly face of it);
        fills `links` with each folder's new delta link as that folder finishes."""
        headers = {"Prefer": f"odata.maxpagesize={self._page_size}"}
        for folder in DELTA_FOLDERS:
            link = previous.get(folder)
            ri = self._follow(link, headers) if link else self._delta_start(tenant_id, user_id, folder, since)
            while True:
                page = parse_delta_page(await self.send(tenant_id, user_id, ri), user_id)
                yield page
                if page.next_link is None:
                    links[folder] = str(page.delta_link)
                    break
                ri = self._follow(page.next_link, headers)

    def _delta_start(self, tenant_id: str, user_id: str, folder: str, since: datetime) -> RequestInformation:
        query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
            select=list(MESSAGE_FIELDS), filter=f"receivedDateTime ge {rfc3339_seconds(since)}"
        )
        config: RequestConfiguration[Any] = RequestConfiguration(query_parameters=query)
        config.headers.add("Prefer", f"odata.maxpagesize={self._page_size}")
        builder = self.client(tenant_id).users.by_user_id(user_id).mail_folders.by_mail_folder_id(folder)
        return builder.messages.delta.to_get_request_information(config)

    async def aclose(self) -> None:
        """Close the HTTP client and the credentials of the current event loop."""
        state, self._state = self._state, None
        if state is None:
            return
        await state.http.aclose()
        # msgraph-core's AsyncGraphTransport does not pass aclose() on: close the connection pool ourselves.
        await state.transport.aclose()
        for credential in state.credentials:
            await credential.close()

    # --- plumbing -----------------------------------------------------------------------------------------

    def _loop_state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        if self._state is None or self._state.loop is not loop:
            transport = self._transport_factory()
            http = httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(self._timeout))
            options: dict[str, Any] = {RetryHandlerOption.get_key(): self._retry}
            http = GraphClientFactory.create_with_default_middleware(client=http, options=options)
            self._state = _LoopState(loop, http, transport)
        return self._state

    def client(self, tenant_id: str) -> GraphServiceClient:
        try:
            uuid.UUID(tenant_id)
        except ValueError:
            raise GraphError(f"not an Entra tenant ID: {tenant_id!r}") from None
        state = self._loop_state()
        client = state.clients.get(tenant_id)
        if client is None:
            credential = self._credential_for(tenant_id)
            # Only the configured Graph host ever receives a token, whatever a nextLink says.
            auth = AzureIdentityAuthenticationProvider(
                credential, scopes=self._scopes, allowed_hosts=[self._host]
            )
            adapter = GraphRequestAdapter(auth, client=state.http)
            adapter.base_url = self._base_url
            client = GraphServiceClient(request_adapter=adapter)
            state.clients[tenant_id] = client
            state.adapters[tenant_id] = adapter
            state.credentials.append(credential)
        return client

    def _follow(self, link: str, headers: dict[str, str] | None) -> RequestInformation:
        """A request for an absolute @odata.nextLink / deltaLink (they carry every query option)."""
        if not link.startswith(self._origin + "/"):
            raise GraphMalformedResponse("a Graph paging link points outside the configured Graph host")
        ri = RequestInformation(Method.GET)
        ri.url = link
        ri.headers.add("Accept", "application/json")
        for name, value in (headers or {}).items():
            ri.headers.add(name, value)
        return ri

    async def pages(
        self,
        tenant_id: str,
        mailbox: str | None,
        ri: RequestInformation,
        parse: Callable[[bytes], tuple[list[T], str | None]],
        headers: dict[str, str] | None = None,
    ) -> AsyncIterator[list[T]]:
        while True:
            records, next_link = parse(await self.send(tenant_id, mailbox, ri))
            yield records
            if next_link is None:
                return
            ri = self._follow(next_link, headers)

    async def send(self, tenant_id: str, mailbox: str | None, ri: RequestInformation) -> bytes:
        self.client(tenant_id)
        adapter = self._loop_state().adapters[tenant_id]
        with _translated(tenant_id):
            if mailbox is None:
                raw = await adapter.send_primitive_async(ri, "bytes", _ERROR_MAP)
            else:
                async with self._semaphore(tenant_id, mailbox):
                    raw = await adapter.send_primitive_async(ri, "bytes", _ERROR_MAP)
        if not isinstance(raw, bytes):
            raise GraphMalformedResponse("Graph answered without a body")
        return raw

    async def send_no_content(self, tenant_id: str, ri: RequestInformation) -> None:
        """A call Graph answers with 204 (a delete)."""
        self.client(tenant_id)
        adapter = self._loop_state().adapters[tenant_id]
        with _translated(tenant_id):
            await adapter.send_no_response_content_async(ri, _ERROR_MAP)

    def _semaphore(self, tenant_id: str, mailbox: str) -> asyncio.Semaphore:
        semaphores = self._loop_state().semaphores
        key = (tenant_id, mailbox.lower())
        semaphore = semaphores.get(key)
        if semaphore is None:
            semaphore = semaphores[key] = asyncio.Semaphore(self._max_per_mailbox)
        return semaphore


@contextmanager
def _translated(tenant_id: str) -> Iterator[None]:
    """SDK and HTTP exceptions of one Graph call as our own."""
    try:
        yield
    except APIError as e:
        raise _translate(e) from None
    except httpx.HTTPError as e:
        raise GraphError(f"Graph request failed: {type(e).__name__}: {e}") from None
    except ClientAuthenticationError as e:
        raise GraphError(f"no Graph token for tenant {tenant_id}: {e.message}") from None


def _translate(e: APIError) -> GraphError:
    """Graph's answer as our error: the status and code as fields (what may be stored), Graph's own message
    in the text only (what may be logged)."""
    status = e.response_status_code or 0
    error = getattr(e, "error", None)
    code = getattr(error, "code", None) or ""
    message = getattr(error, "message", None) or ""
    detail = f"Graph answered {status} {code}: {message}".rstrip(": ")
    retried = status in (429, 503, 504)
    kind: type[GraphError] = GraphNotFound if status == 404 else GraphThrottled if retried else GraphError
    text = detail + " (retries exhausted)" if retried else detail
    return kind(text, status=status or None, code=code if isinstance(code, str) else None)


class MessagesDelta:
    """One delta round of a mailbox (inbox and sent items). Iterate `pages()` to the end, then read
    `delta_link`: an opaque cursor (the folders' Graph delta links) to pass to the next round."""

    def __init__(
        self, adapter: GraphAdapter, tenant_id: str, user_id: str, delta_link: str | None, since: datetime
    ) -> None:
        self._adapter = adapter
        self._tenant_id = tenant_id
        self._user_id = user_id
        self._since = since
        try:
            self._previous: dict[str, str] = json.loads(delta_link) if delta_link else {}
        except ValueError:
            raise GraphError("the stored delta cursor is not readable") from None
        self._next: dict[str, str] | None = None
        self.removed_ids: list[str] = []

    @property
    def delta_link(self) -> str:
        if self._next is None:
            raise RuntimeError("read delta_link after pages() has been iterated to the end")
        return json.dumps(self._next, sort_keys=True)

    async def pages(self) -> AsyncIterator[list[MessageMeta]]:
        links: dict[str, str] = {}
        rounds = self._adapter.delta_round(self._tenant_id, self._user_id, self._previous, self._since, links)
        async for page in rounds:
            self.removed_ids.extend(page.removed_ids)
            yield page.messages
        self._next = links
