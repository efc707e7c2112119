"""The app's notification endpoint on loopback, for tests that make Graph subscriptions on the simulator: it
answers Graph's validation handshake (`validationToken`, echoed by `echo`, text/plain, 200) on any path, and
records every other POST (answered with `status`)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

WAIT = 5.0  # seconds a test waits for something the simulator sends in the background


@dataclass(frozen=True)
class Received:
    path: str
    raw_query: str
    content_type: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """The app's endpoint on loopback: answers validation requests with `echo(token)` and every other POST
    with `status`, recording all of them."""

    def __init__(self, echo: Callable[[str], str] = lambda token: token, status: int = 202) -> None:
        self.validations: list[Received] = []
        self.posts: list[Received] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (the stdlib's signature)
                """Quiet: the test asserts on what was recorded."""

            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                seen = Received(parts.path, parts.query, self.headers.get("content-type", ""), body)
                tokens = parse_qs(parts.query).get("validationToken")
                if tokens:
                    answer, code, content_type = echo(tokens[0]).encode(), 200, "text/plain"
                else:
                    answer, code, content_type = b"", status, "text/plain"
                with receiver._changed:
                    (receiver.validations if tokens else receiver.posts).append(seen)
                    receiver._changed.notify_all()
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str = "/notify") -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    @property
    def base_url(self) -> str:
        """What GRAPH_NOTIFICATION_URL is set to: the app's routes are under it."""
        return self.url("/api")

    @property
    def validated(self) -> list[str]:
        """The paths validated, in order."""
        return [v.path for v in self.validations]

    def wait_for_posts(self, count: int) -> list[Received]:
        """The first `count` POSTs (not validations), waiting at most WAIT seconds for them."""
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.posts) >= count, timeout=WAIT), self.posts
            return list(self.posts[:count])

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._server.server_close()
