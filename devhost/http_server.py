"""The local host's HTTP front: `/api/...` to HTTP functions, `/admin/...` to the host's admin API.

Requests become `azure.functions.HttpRequest`s and `HttpResponse`s become HTTP responses. An unknown route
answers 404, a known route with another method 405 (with `Allow`), a function that raises 500 with an empty
body: its stack trace is logged, never sent.
"""

from __future__ import annotations

import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import azure.functions as func

from devhost.registry import HttpFunction
from devhost.routing import MethodNotAllowed, NoRoute, split_path

if TYPE_CHECKING:
    from devhost.host import LocalHost

logger = logging.getLogger("devhost")

MAX_REQUEST_BYTES = 100 * 1024 * 1024  # the Functions host's default request body limit
_HTTP_REASON = "This function was programmatically called via the host APIs."


class HostHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], host: LocalHost) -> None:
        self.local_host = host
        super().__init__(address, RequestHandler)


def to_http_request(
    method: str, url: str, headers: list[tuple[str, str]], body: bytes, route_params: dict[str, str]
) -> func.HttpRequest:
    merged: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    params = {name: values[0] for name, values in query.items()}
    return func.HttpRequest(method, url, headers=merged, params=params, route_params=route_params, body=body)


def from_http_response(value: object) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of what an HTTP function returned."""
    if isinstance(value, str):
        return 200, {"Content-Type": "text/plain; charset=utf-8"}, value.encode("utf-8")
    if not isinstance(value, func.HttpResponse):
        raise TypeError(f"an HTTP function must return an HttpResponse, not {type(value).__name__}")
    headers = dict(value.headers)
    if not any(k.lower() == "content-type" for k in headers) and value.mimetype:
        # As the worker's HttpResponseConverter does: a charset for text/* types only.
        text = value.mimetype.startswith("text/")
        headers["Content-Type"] = f"{value.mimetype}; charset={value.charset}" if text else value.mimetype
    return int(value.status_code), headers, value.get_body() or b""


class RequestHandler(BaseHTTPRequestHandler):
    server: HostHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "devhost"
    # Headers and body go out in two writes; with Nagle on, a keep-alive client waits for the delayed ACK
    # (~40 ms) before it sees the body.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET  # noqa: N815  (stdlib names)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002, ARG002  (the stdlib's signature)
        # Invocations are logged by the invoker, as Core Tools does; access lines would only be noise.
        return

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except ValueError as error:
            self._reply_json(HTTPStatus.BAD_REQUEST, {"error": str(error)})
            return
        if body is None:
            self._reply_json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "the body is over 100 MB"})
            return
        path = urlsplit(self.path).path
        segments = split_path(path)
        if segments and segments[0].lower() == "admin":
            self._admin(segments[1:], body)
            return
        host = self.server.local_host
        match = host.router.resolve(self.command, path)
        if isinstance(match, NoRoute):
            self._reply(HTTPStatus.NOT_FOUND, {}, b"")
        elif isinstance(match, MethodNotAllowed):
            self._reply(HTTPStatus.METHOD_NOT_ALLOWED, {"Allow": ", ".join(match.allowed)}, b"")
        else:
            self._call_function(match.target, match.params, body)

    def _call_function(self, function: HttpFunction, params: dict[str, str], body: bytes) -> None:
        host = self.server.local_host
        url = f"http://{self.headers.get('Host') or host.authority}{self.path}"
        request = to_http_request(self.command, url, list(self.headers.items()), body, params)
        result = host.invoker.invoke(function, request, _HTTP_REASON)
        if not result.succeeded:
            self._reply(HTTPStatus.INTERNAL_SERVER_ERROR, {}, b"")
            return
        try:
            status, headers, payload = from_http_response(result.value)
        except TypeError:
            logger.exception("Functions.%s returned something that is not an HTTP response", function.name)
            self._reply(HTTPStatus.INTERNAL_SERVER_ERROR, {}, b"")
            return
        self._reply(status, headers, payload)

    def _admin(self, segments: list[str], body: bytes) -> None:
        host = self.server.local_host
        method = self.command
        route = [s.lower() for s in segments]
        if route == ["functions"] and method == "GET":
            self._reply_json(HTTPStatus.OK, host.describe_functions())
        elif len(route) == 2 and route[0] == "functions" and method == "GET":
            described = host.describe_function(segments[1])
            if described is None:
                self._reply_json(HTTPStatus.NOT_FOUND, {"error": f"no function named {segments[1]!r}"})
            else:
                self._reply_json(HTTPStatus.OK, described)
        elif len(route) == 2 and route[0] == "functions" and method == "POST":
            self._admin_fire(segments[1], body)
        elif route == ["queues"] and method == "GET":
            self._reply_json(HTTPStatus.OK, host.queue_status())
        elif route == ["host", "status"] and method == "GET":
            self._reply_json(HTTPStatus.OK, host.status())
        else:
            self._reply_json(HTTPStatus.NOT_FOUND, {"error": f"no admin endpoint {method} {self.path}"})

    def _admin_fire(self, name: str, body: bytes) -> None:
        host = self.server.local_host
        try:
            document = json.loads(body or b"{}")
        except (UnicodeDecodeError, json.JSONDecodeError):
            self._reply_json(HTTPStatus.BAD_REQUEST, {"error": 'the body must be JSON: {"input": "..."}'})
            return
        raw_input = document.get("input", "") if isinstance(document, dict) else None
        if raw_input is None:
            raw_input = ""
        text_input = raw_input if isinstance(raw_input, str) else json.dumps(raw_input)
        entry = host.registry.get(name)
        if entry is None:
            self._reply_json(HTTPStatus.NOT_FOUND, {"error": f"no function named {name!r}"})
            return
        if isinstance(entry, HttpFunction):
            self._reply_json(
                HTTPStatus.BAD_REQUEST, {"error": f"{entry.name} is an HTTP function: call its route"}
            )
            return
        wait = parse_qs(urlsplit(self.path).query).get("wait", ["false"])[0].lower() in ("1", "true")
        if not wait:
            threading.Thread(target=host.fire, args=(entry, text_input), daemon=True).start()
            self._reply(HTTPStatus.ACCEPTED, {}, b"")
            return
        result = host.fire(entry, text_input)
        self._reply_json(HTTPStatus.OK, result.summary())

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES:
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()  # the blank line after the last chunk (trailers are not supported)
                return b"".join(chunks)
            total += size
            if total > MAX_REQUEST_BYTES:
                return None
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _reply_json(self, status: HTTPStatus, document: object) -> None:
        payload = json.dumps(document, indent=2).encode("utf-8")
        self._reply(status, {"Content-Type": "application/json; charset=utf-8"}, payload)

    def _reply(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD" and payload:
            self.wfile.write(payload)
