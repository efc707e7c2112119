"""The table clients' transport (functions/adapters/table_transport.py) on real sockets: the errors the
SDK's retry policy and the changeset writer's resend depend on, and what it refuses. Every table test
against Azurite runs through it too (StorageClients gives it to the table clients)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from azure.core.exceptions import (
    ServiceRequestError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.rest import HttpRequest

from functions.adapters.storage import StorageClients
from functions.adapters.table_transport import TableTransport
from functions.settings import Settings

pytestmark = pytest.mark.integration


def transport(read_timeout: float = 5.0) -> TableTransport:
    return TableTransport(pool_connections=2, connection_timeout=2.0, read_timeout=read_timeout)


@pytest.fixture
def server() -> Iterator[Callable[[Callable[[socket.socket], None]], str]]:
    """A one-connection server on 127.0.0.1 that does to its client what the test says; its URL."""
    listeners: list[socket.socket] = []

    def start(behave: Callable[[socket.socket], None]) -> str:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)

        def serve() -> None:
            connection, _ = listener.accept()
            with connection:
                behave(connection)

        threading.Thread(target=serve, daemon=True).start()
        return f"http://127.0.0.1:{listener.getsockname()[1]}/devstoreaccount1/Tables"

    yield start
    for listener in listeners:
        listener.close()


def read_request(connection: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(65536)
    return data


def test_an_answer_is_read_whole_with_its_status_and_headers(server: Callable[..., str]) -> None:
    def answer(connection: socket.socket) -> None:
        read_request(connection)
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-ms-continuation-NextPartitionKey: p2\r\n"
            b'Content-Length: 12\r\n\r\n{"value":[]}'
        )

    response = transport().send(HttpRequest("GET", server(answer)))
    assert response.status_code == 200
    assert response.headers["X-MS-Continuation-NextPartitionKey"] == "p2"  # any case, as the SDK asks
    assert response.read() == b'{"value":[]}'
    assert response.json() == {"value": []}


def test_a_body_is_sent_as_given(server: Callable[..., str]) -> None:
    received: list[bytes] = []

    def answer(connection: socket.socket) -> None:
        data = read_request(connection)
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(
            next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))[15:]
        )
        while len(body) < length:
            body += connection.recv(65536)
        received.append(body)
        connection.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")

    request = HttpRequest("POST", server(answer), content=b"--batch_1\r\nMERGE ...\r\n--batch_1--\r\n")
    assert transport().send(request).status_code == 202
    assert received == [b"--batch_1\r\nMERGE ...\r\n--batch_1--\r\n"]


def test_nobody_listening_is_a_request_error_the_sdk_retries() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # free once closed
    with pytest.raises(ServiceRequestError):
        transport().send(HttpRequest("GET", f"http://127.0.0.1:{port}/devstoreaccount1/Tables"))


def test_a_connection_dropped_after_the_request_went_out_is_a_response_error(
    server: Callable[..., str],
) -> None:
    """What the changeset writer resends on (the SDK does not retry a POST then)."""
    with pytest.raises(ServiceResponseError):
        transport().send(HttpRequest("POST", server(read_request), content=b"x"))


def test_an_answer_that_does_not_come_is_a_response_timeout(server: Callable[..., str]) -> None:
    gate = threading.Event()

    def stall(connection: socket.socket) -> None:
        read_request(connection)
        gate.wait(5)

    try:
        with pytest.raises(ServiceResponseTimeoutError):
            transport(read_timeout=0.2).send(HttpRequest("GET", server(stall)))
    finally:
        gate.set()


def test_options_it_cannot_honour_are_refused_before_anything_is_sent() -> None:
    request = HttpRequest("GET", "http://127.0.0.1:9/devstoreaccount1/Tables")
    with pytest.raises(TypeError, match="cannot honour"):
        transport().send(request, proxies_from_elsewhere=True)
    with pytest.raises(ValueError, match="verifies"):
        transport().send(request, connection_verify=False)
    with pytest.raises(ValueError, match="no proxy"):
        transport().send(request, proxies={"https": "http://proxy:3128"})
    with pytest.raises(ValueError, match="client certificate"):
        transport().send(request, connection_cert="/etc/ssl/client.pem")


def test_the_table_clients_send_through_it(settings: Settings, tenant_id: str) -> None:
    sent: list[str] = []
    original = TableTransport.send

    def recording(self: TableTransport, request: HttpRequest, **kwargs: object) -> object:
        sent.append(request.method)
        return original(self, request, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TableTransport, "send", recording)
        table = StorageClients(settings.storage).table("transportcheck")
        table.upsert_entity({"PartitionKey": tenant_id, "RowKey": "r1", "v": 1})
        assert table.get_entity(tenant_id, "r1")["v"] == 1
    assert "GET" in sent
