"""The storage clients against a real Azurite: resources are created on first use; health sees them."""

from __future__ import annotations

import pytest

from functions.adapters.storage import StorageClients
from functions.settings import Settings
from tests.conftest import base_env

pytestmark = pytest.mark.integration


def test_ping_reports_every_service_up_when_azurite_answers(storage_clients: StorageClients) -> None:
    assert storage_clients.ping() == {"tables": True, "queues": True, "blobs": True}


def test_queue_messages_are_base64_as_the_functions_host_expects(storage_clients: StorageClients) -> None:
    queue = storage_clients.queue("encodingcheck")
    queue.send_message('{"hello": "world"}')
    raw = storage_clients.queue_service.get_queue_client("encodingcheck").receive_message()
    assert raw is not None
    assert raw.content == "eyJoZWxsbyI6ICJ3b3JsZCJ9"


def test_tables_are_created_on_first_use_and_reused(storage_clients: StorageClients) -> None:
    first = storage_clients.table("firstuse")
    assert storage_clients.table("firstuse") is first
    first.upsert_entity({"PartitionKey": "p", "RowKey": "r", "v": 1})
    assert first.get_entity("p", "r")["v"] == 1


def test_a_configured_proxy_is_still_honoured(
    storage_connection_string: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Port 9 (discard) answers nothing: storage reached through it is down, unless NO_PROXY exempts Azurite.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    env = base_env(storage_connection_string, HTTP_PROXY="http://127.0.0.1:9")
    proxied = StorageClients(Settings.from_env(env).storage)
    assert proxied.ping()["tables"] is False
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    exempted = StorageClients(Settings.from_env({**env, "NO_PROXY": "127.0.0.1"}).storage)
    assert exempted.ping()["tables"] is True
