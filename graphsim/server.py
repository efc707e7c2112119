"""The Graph simulator: a loopback HTTP server speaking Microsoft Graph v1.0 for one synthetic tenant.

Routes (`Authorization: Bearer <token>` required, 401 otherwise; faults and stats apply to all of them):
  GET /v1.0/users, /v1.0/users/{id}, /v1.0/domains, /v1.0/groups,
  GET /v1.0/groups/{id}/transitiveMembers/graph.user,
  GET /v1.0/users/{id}[/mailFolders/{folder}]/messages            ($select $top $skip $filter $orderby)
  GET /v1.0/users/{id}[/mailFolders/{folder}]/messages/delta()    (nextLink / deltaLink, Prefer maxpagesize)
  GET /v1.0/users/{id}/calendarView?startDateTime=&endDateTime=   ($select $top $skip)
  POST, GET /v1.0/subscriptions; GET, PATCH, DELETE /v1.0/subscriptions/{id};
  POST /v1.0/subscriptions/{id}/reauthorize      (change notifications, see `graphsim.subscriptions`)
Control API (no auth, loopback only): see `graphsim.control`.

Embedding: `with GraphSimulator(Tenant(spec)) as sim: ... sim.graph_url ...`; from the command line:
`python -m graphsim --port N --seed S --users U`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import islice
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from graphsim import control, wire
from graphsim.faults import Faults, RequestRecord, Stats
from graphsim.model import MailCopy
from graphsim.subscriptions import ROUTE as _SUBSCRIPTIONS
from graphsim.subscriptions import Subscriptions
from graphsim.tenant import Tenant
from graphsim.wire import JsonObject, QueryError

DEFAULT_TOKEN = "simulator-token"  # noqa: S105  (a loopback test token, documented as such)
_FAR = timedelta(days=3650)
_TICK = timedelta(microseconds=1)
_LINK_SAFE = "$,()':"
_MAILBOX = re.compile(r"^/v1\.0/users/([^/]+)/", re.IGNORECASE)
_USER = re.compile(r"^/v1\.0/users/([^/]+)$", re.IGNORECASE)
_MEMBERS = re.compile(r"^/v1\.0/groups/([^/]+)/transitiveMembers/(?:microsoft\.)?graph\.user$", re.IGNORECASE)
_MESSAGES = re.compile(
    r"^/v1\.0/users/([^/]+)/(?:mailFolders/([^/]+)/)?messages(/delta\(\)|/microsoft\.graph\.delta\(\))?$",
    re.IGNORECASE,
)
_CALENDAR = re.compile(r"^/v1\.0/users/([^/]+)/calendarView$", re.IGNORECASE)


class GraphSimulator:
    def __init__(self, tenant: Tenant, *, token: str = DEFAULT_TOKEN, host: str = "127.0.0.1", port: int = 0):
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the simulator binds loopback only")
        self.tenant = tenant
        self.token = token
        self.faults = Faults()
        self.stats = Stats()
        self._server = _Server((host, port), _Handler)
        self._server.sim = self
        self._thread: threading.Thread | None = None
        self.subscriptions = Subscriptions(tenant, self.graph_url)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def graph_url(self) -> str:
        """What GRAPH_BASE_URL is set to (no trailing slash)."""
        return f"{self.url}/v1.0"

    def start(self) -> GraphSimulator:
        # A short poll interval so that stop() returns promptly (tests start and stop many simulators).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="graphsim", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
        self.subscriptions.close()

    def __enter__(self) -> GraphSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    sim: GraphSimulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the adapter reuses connections as it would with Graph
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (the stdlib's signature)
        """Silence per-request logging; the stats API says what happened."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = unquote(parts.path).rstrip("/")
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        sim = self.server.sim
        if path.startswith("/_sim/"):
            status, payload = control.handle(sim, method, path, body)
            self._send(status, json.dumps(payload).encode())
            return
        mailbox_match = _MAILBOX.match(path)
        mailbox = mailbox_match.group(1).lower() if mailbox_match else None
        if self.headers.get("authorization") != f"Bearer {sim.token}":
            self._send(401, _error("InvalidAuthenticationToken", "Access token is empty or invalid."))
            sim.stats.end(RequestRecord(path, query, None, 401))
            return
        sim.stats.begin(mailbox)
        status = 500
        try:
            delay = sim.faults.delay_for(mailbox)
            if delay:
                time.sleep(delay)
            status, raw, headers = self._graph(method, path, query, mailbox, body)
        finally:
            # Counted as done before the answer leaves: a client that has its answer may already send
            # the next request, which must not look concurrent with this one.
            sim.stats.end(RequestRecord(path, query, mailbox, status))
        self._send(status, raw, headers)

    def _graph(
        self, method: str, path: str, query: dict[str, str], mailbox: str | None, body: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        sim = self.server.sim
        fault = sim.faults.decide(mailbox)
        if fault is not None:
            retry = {"Retry-After": str(sim.faults.settings.retry_after)}
            if fault == "throttle":
                return (
                    429,
                    _error("TooManyRequests", "Application is over its MailboxConcurrency limit."),
                    retry,
                )
            return 503, _error("ServiceUnavailable", "Service unavailable, try again later."), retry
        if _SUBSCRIPTIONS.match(path):
            return self._subscriptions(method, path, body)
        if method != "GET":
            return 405, _error("Request_BadRequest", "Only GET is supported here."), {}
        try:
            payload = self._route(path, query)
        except QueryError as e:
            return e.status, _error(e.code, e.message), {}
        raw = json.dumps(payload, separators=(",", ":")).encode()
        if mailbox is not None and sim.faults.is_malformed(mailbox):
            raw = raw[: len(raw) // 2]  # a page cut short mid-stream
        return 200, raw, {}

    def _subscriptions(self, method: str, path: str, body: bytes) -> tuple[int, bytes, dict[str, str]]:
        try:
            status, payload = self.server.sim.subscriptions.route(method, path, body)
        except QueryError as e:
            return e.status, _error(e.code, e.message), {}
        return status, b"" if payload is None else json.dumps(payload).encode(), {}

    def _route(self, path: str, query: dict[str, str]) -> JsonObject:  # noqa: PLR0911  (a router: one return per route)
        sim = self.server.sim
        tenant = sim.tenant
        if path.lower() == "/v1.0/users":
            return self._paged_by_token(path, query, [wire.user_json(u) for u in tenant.users()], 100, 999)
        if path.lower() == "/v1.0/domains":
            domains = tenant.verified_domains
            return {"value": [wire.domain_json(d, is_default=i == 0) for i, d in enumerate(domains)]}
        if path.lower() == "/v1.0/groups":
            groups = [
                {"id": g.id, "displayName": g.display_name, "securityEnabled": True} for g in tenant.groups
            ]
            return self._paged_by_token(path, query, groups, 100, 999)
        if match := _USER.match(path):
            user = tenant.user(match.group(1))
            if user is None:
                raise QueryError(
                    404, "Request_ResourceNotFound", f"Resource '{match.group(1)}' does not exist."
                )
            return wire.select(wire.user_json(user), wire.select_fields(query))
        if match := _MEMBERS.match(path):
            if tenant.group(match.group(1)) is None:
                raise QueryError(
                    404, "Request_ResourceNotFound", f"Resource '{match.group(1)}' does not exist."
                )
            users = [tenant.user(uid) for uid in tenant.transitive_user_ids(match.group(1))]
            return self._paged_by_token(path, query, [wire.user_json(u) for u in users if u], 100, 999)
        if match := _MESSAGES.match(path):
            self._mailbox(match.group(1))
            keep = _folder(match.group(2))
            if match.group(3):
                return self._delta(path, match.group(1), keep, query)
            return self._messages(path, match.group(1), keep, query)
        if match := _CALENDAR.match(path):
            self._mailbox(match.group(1))
            return self._calendar(path, match.group(1), query)
        raise QueryError(400, "BadRequest", f"Resource not found for the segment '{path}'.")

    def _mailbox(self, user_id: str) -> None:
        user = self.server.sim.tenant.user(user_id)
        if user is None:
            raise QueryError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        if not user.mail:
            raise QueryError(
                404, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive or on-premise."
            )

    def _messages(self, path: str, user_id: str, keep: _Keep, query: dict[str, str]) -> JsonObject:
        tenant = self.server.sim.tenant
        window = wire.received_window(query)
        newest_first = wire.descending(query, window)
        size, offset = wire.top(query, 10, 1000), wire.skip(query)
        start = window.start or tenant.spec.start - _FAR
        end = window.end or tenant.spec.now + _FAR
        cursor = wire.decode_token(query["$skiptoken"]) if "$skiptoken" in query else None
        if cursor is not None:
            # Resume at the last item returned instead of counting from the window's start: a 50,000-message
            # mailbox would otherwise regenerate its early months for every page.
            pivot = wire.instant(cursor["t"], "$skiptoken")
            start, end = (start, min(end, pivot + _TICK)) if newest_first else (max(start, pivot), end)
        copies: Iterator[MailCopy] = tenant.mail_copies(user_id, start, end, descending=newest_first)
        if cursor is not None:
            copies = _resume(copies, pivot, cursor["id"])
        page = list(islice((c for c in copies if keep(c)), offset, offset + size + 1))
        fields = wire.select_fields(query)
        body: JsonObject = {"value": [wire.select(wire.message_json(c), fields) for c in page[:size]]}
        if len(page) > size:
            last = page[size - 1]
            after = {k: v for k, v in query.items() if k != "$skip"}
            after["$skiptoken"] = wire.encode_token({"t": last.received_at.isoformat(), "id": last.graph_id})
            body["@odata.nextLink"] = self._link(path, after)
        return body

    def _delta(self, path: str, user_id: str, keep: _Keep, query: dict[str, str]) -> JsonObject:
        tenant = self.server.sim.tenant
        size = wire.max_page_size(self.headers.get("prefer"), 10)
        if "$deltatoken" in query:
            previous = wire.decode_token(query["$deltatoken"])
            state = {"after": previous["upto"], "upto": tenant.change_seq, "o": 0, "sel": previous.get("sel")}
        elif "$skiptoken" in query:
            state = wire.decode_token(query["$skiptoken"])
        else:
            since = wire.received_window(query).start
            state = {
                "since": since and wire.iso(since),
                "upto": tenant.change_seq,
                "o": 0,
                "sel": query.get("$select"),
            }
        items: Any
        if "after" in state:  # a later round: only what arrived since the previous delta link
            items = (c for c in tenant.mail_changes(user_id, state["after"], state["upto"]) if keep(c))
        else:
            start = wire.instant(state["since"], "since") if state["since"] else tenant.spec.start - _FAR
            copies = tenant.mail_copies(user_id, start, tenant.spec.now + _FAR)
            items = (c for c in copies if keep(c) and c.mail.seq <= state["upto"])
        offset = state["o"]
        page = list(islice(items, offset, offset + size + 1))
        fields = state["sel"].split(",") if state["sel"] else None
        body: JsonObject = {"value": [wire.select(wire.message_json(c), fields) for c in page[:size]]}
        if len(page) > size:
            body["@odata.nextLink"] = self._link(
                path, {"$skiptoken": wire.encode_token({**state, "o": offset + size})}
            )
        else:
            body["@odata.deltaLink"] = self._link(
                path, {"$deltatoken": wire.encode_token({"upto": state["upto"], "sel": state["sel"]})}
            )
        return body

    def _calendar(self, path: str, user_id: str, query: dict[str, str]) -> JsonObject:
        if "startDateTime" not in query or "endDateTime" not in query:
            raise QueryError(
                400,
                "ErrorInvalidParameter",
                "This request requires a time window specified by the query string parameters "
                "StartDateTime and EndDateTime.",
            )
        start = wire.instant(query["startDateTime"], "startDateTime")
        end = wire.instant(query["endDateTime"], "endDateTime")
        size, offset = wire.top(query, 10, 1000), wire.skip(query)
        page = list(
            islice(self.server.sim.tenant.event_copies(user_id, start, end), offset, offset + size + 1)
        )
        fields = wire.select_fields(query)
        body: JsonObject = {"value": [wire.select(wire.event_json(c), fields) for c in page[:size]]}
        if len(page) > size:
            body["@odata.nextLink"] = self._link(path, {**query, "$skip": str(offset + size)})
        return body

    def _paged_by_token(
        self, path: str, query: dict[str, str], items: list[JsonObject], default: int, maximum: int
    ) -> JsonObject:
        size = wire.top(query, default, maximum)
        offset = int(wire.decode_token(query["$skiptoken"])["o"]) if "$skiptoken" in query else 0
        fields = wire.select_fields(query)
        body: JsonObject = {"value": [wire.select(i, fields) for i in items[offset : offset + size]]}
        if offset + size < len(items):
            body["@odata.nextLink"] = self._link(
                path, {**query, "$skiptoken": wire.encode_token({"o": offset + size})}
            )
        return body

    def _link(self, path: str, query: dict[str, str]) -> str:
        """Absolute, as Graph's nextLink and deltaLink are."""
        return f"{self.server.sim.url}{path}?{urlencode(query, safe=_LINK_SAFE)}"

    def _send(self, status: int, raw: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if status != 204:  # a 204 has no body, so no body headers either (RFC 9110)
            self.send_header("Content-Type", "application/json; odata.metadata=minimal; charset=utf-8")
            self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)


def _resume(copies: Iterator[MailCopy], pivot: datetime, last_id: str) -> Iterator[MailCopy]:
    """`copies` (starting at `pivot`) after the one with `last_id`: of the copies received at the pivot
    instant, those up to and including `last_id` were on the previous page."""
    ties: list[MailCopy] = []
    for c in copies:
        if c.received_at == pivot:
            ties = [] if c.graph_id == last_id else [*ties, c]
            continue
        yield from ties
        yield c
        yield from copies
        return
    yield from ties


def _error(code: str, message: str) -> bytes:
    return json.dumps(wire.error_body(code, message)).encode()


class _Keep:
    """Which copies a mail folder holds: received mail in the inbox, sent mail in sent items."""

    def __init__(self, folder: str | None) -> None:
        self.folder = folder

    def __call__(self, c: MailCopy) -> bool:
        if self.folder is None:
            return True
        if self.folder == "inbox":
            return not c.is_sender_copy
        if self.folder == "sentitems":
            return c.is_sender_copy and not c.mail.is_draft
        return c.mail.is_draft


def _folder(name: str | None) -> _Keep:
    if name is not None and name.lower() not in ("inbox", "sentitems", "drafts"):
        raise QueryError(404, "ErrorItemNotFound", "The specified folder could not be found in the store.")
    return _Keep(name.lower() if name else None)
