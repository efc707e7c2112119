"""The table clients' HTTP transport: azure-core's transport interface straight on urllib3.

Why not azure-core's `RequestsTransport`, which sits on urllib3 too: ingestion is bound by the worker's Python
CPU, most of it spent per storage request, and `requests` (preparing each request, merging session settings,
building its own response) cost as much CPU as urllib3 and http.client together: 44 % of the transport's
time in a profile of the ingestion benchmark. The table clients need nothing it adds: the SDK signs requests
and retries them itself, nothing redirects, there are no cookies, and a proxy is served by `RequestsTransport`
still (StorageClients uses this transport only when the environment configures none).

Errors are azure-core's, mapped as `RequestsTransport` maps them, so the SDK's retry policy and the changeset
writer's resend (functions/adapters/table_batch.py, on `ServiceResponseError`) behave as before. Responses
are read whole before they are returned: a table response is small (a page holds at most 1,000 rows), and the
connection goes back to the pool at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import certifi
import urllib3
from azure.core.exceptions import (
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest, HttpResponse
from azure.core.rest._http_response_impl import HttpResponseImpl
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)


class TableTransport(HttpTransport[HttpRequest, HttpResponse]):
    def __init__(
        self,
        *,
        pool_connections: int,
        connection_timeout: float,
        read_timeout: float,
        ca_bundle: str | None = None,
    ) -> None:
        self._timeout = (connection_timeout, read_timeout)
        self._pool = urllib3.PoolManager(
            maxsize=pool_connections,
            retries=False,  # the SDK's retry policy decides
            ca_certs=ca_bundle or certifi.where(),  # what requests trusted
            cert_reqs="CERT_REQUIRED",
        )

    @property
    def pool(self) -> urllib3.PoolManager:
        """The connections, shared by every request of the clients this transport serves."""
        return self._pool

    def __enter__(self) -> TableTransport:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def open(self) -> None:
        """Connections open on demand, from the pool."""

    def close(self) -> None:
        self._pool.clear()

    def send(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        connect = kwargs.pop("connection_timeout", self._timeout[0])
        read = kwargs.pop("read_timeout", self._timeout[1])
        verify = kwargs.pop("connection_verify", True)
        kwargs.pop("stream", None)  # every response is read whole; a caller that streams reads it from memory
        if kwargs.pop("proxies", None) or kwargs.pop("connection_cert", None):
            raise ValueError("TableTransport sends through no proxy and with no client certificate")
        if kwargs:
            raise TypeError(f"TableTransport.send got options it cannot honour: {sorted(kwargs)}")
        if verify is False:
            raise ValueError("TableTransport always verifies TLS certificates")
        if getattr(request, "files", None):
            raise ValueError("TableTransport sends no form data; table requests never carry files")
        try:
            response = self._pool.urlopen(
                request.method,
                request.url,
                body=_body(request),
                headers=dict(request.headers),
                redirect=False,
                assert_same_host=False,
                timeout=urllib3.Timeout(connect=connect, read=read),
                preload_content=True,
            )
        except ConnectTimeoutError as error:
            raise ServiceRequestTimeoutError(error, error=error) from error
        except NewConnectionError as error:
            raise ServiceRequestError(error, error=error) from error
        except ReadTimeoutError as error:
            raise ServiceResponseTimeoutError(error, error=error) from error
        except ProtocolError as error:  # the connection dropped once the request was on its way
            raise ServiceResponseError(error, error=error) from error
        except HTTPError as error:
            raise ServiceRequestError(error, error=error) from error
        return _Response(request, response)


def _body(request: HttpRequest) -> Any:
    """The bytes to send: what RequestsTransport passes as `data` (the SDK's JSON, a changeset's text)."""
    data = getattr(request, "data", None)  # a multipart body once the pipeline prepared it
    return request.content if data is None else data


class _Response(HttpResponseImpl):
    """A response read whole: its content is set, so the stream download generator is never asked for."""

    def __init__(self, request: HttpRequest, response: urllib3.BaseHTTPResponse) -> None:
        headers = response.headers
        super().__init__(
            request=request,
            internal_response=response,
            status_code=response.status,
            reason=response.reason or "",
            content_type=headers.get("content-type"),
            headers=headers,
            stream_download_generator=_already_read,
        )
        self._content = response.data


def _already_read(**_: Any) -> Iterator[bytes]:
    raise RuntimeError("a table response is read whole; it has no stream left to download")
