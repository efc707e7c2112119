"""A transport that loses the answer to the first POST to one table, as when the service closes the keep-alive
connection the request went out on. `delivered=False` loses the request itself instead."""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import ServiceResponseError
from azure.core.pipeline.transport import HttpRequest, HttpResponse, HttpTransport, RequestsTransport


class AnswerLost(HttpTransport):
    def __init__(self, table: str, *, delivered: bool = True, inner: HttpTransport | None = None) -> None:
        self._inner = inner or RequestsTransport()
        self._table, self._delivered, self.lost = table, delivered, 0

    def send(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        losing = request.method == "POST" and request.url.endswith(f"/{self._table}") and not self.lost
        if losing and not self._delivered:
            self.lost += 1
            raise ServiceResponseError("Connection aborted before the request was sent")
        response = self._inner.send(request, **kwargs)
        if losing:
            self.lost += 1
            raise ServiceResponseError("Remote end closed connection without response")
        return response

    def open(self) -> None:
        self._inner.open()

    def close(self) -> None:
        self._inner.close()

    def __enter__(self) -> AnswerLost:
        self._inner.__enter__()
        return self

    def __exit__(self, *args: object) -> None:
        self._inner.__exit__(*args)
