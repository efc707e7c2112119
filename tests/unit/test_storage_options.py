"""What the storage clients take from the environment. Proxies: the HTTP session trusts the environment only
when it configures one (reading it costs every request; ignoring a configured proxy would break a deployment
behind one). A CA bundle: read once by the settings and handed to the clients, never looked up per request.
Settings decide both, from the environment they are given."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.pipeline.transport import RequestsTransport

from functions.adapters.storage import POOL_CONNECTIONS, StorageClients
from functions.adapters.table_transport import TableTransport
from functions.settings import storage_settings

AZURITE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}
PLAIN = {**AZURITE, "PATH": "/usr/bin", "HOME": "/root"}


@pytest.mark.parametrize("name", ["HTTPS_PROXY", "http_proxy", "ALL_PROXY", "NO_PROXY", "no_proxy"])
def test_an_environment_with_a_proxy_is_trusted(name: str) -> None:
    assert storage_settings({**PLAIN, name: "value"}).trust_environment is True


@pytest.mark.parametrize("name", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "requests_ca_bundle"])
def test_a_ca_bundle_alone_is_read_once_not_per_request(name: str) -> None:
    settings = storage_settings({**PLAIN, name: "/etc/ssl/bundle.pem"})
    assert settings.trust_environment is False
    assert settings.ca_bundle == "/etc/ssl/bundle.pem"


def test_the_requests_bundle_wins_over_curls_as_in_requests() -> None:
    environ = {**PLAIN, "CURL_CA_BUNDLE": "/curl.pem", "REQUESTS_CA_BUNDLE": "/requests.pem"}
    assert storage_settings(environ).ca_bundle == "/requests.pem"


def test_an_empty_bundle_variable_names_no_bundle() -> None:
    assert storage_settings({**PLAIN, "REQUESTS_CA_BUNDLE": ""}).ca_bundle is None


def test_an_environment_without_either_is_not_read_per_request() -> None:
    settings = storage_settings(PLAIN)
    assert settings.trust_environment is False
    assert settings.ca_bundle is None


def transport_of(service: Any) -> Any:
    """The transport a service client sends through (table clients wrap theirs one level deeper)."""
    pipeline = service._client._client._pipeline if hasattr(service._client, "_client") else service._pipeline
    return pipeline._transport


def test_the_clients_verify_with_the_bundle_the_settings_read() -> None:
    clients = StorageClients(storage_settings({**PLAIN, "REQUESTS_CA_BUNDLE": "/etc/ssl/bundle.pem"}))
    assert transport_of(clients.table_service).pool.connection_pool_kw["ca_certs"] == "/etc/ssl/bundle.pem"
    for service in (clients.queue_service, clients.blob_service):
        transport = transport_of(service)
        assert transport.connection_config.verify == "/etc/ssl/bundle.pem"
        assert transport._use_env_settings is False


def test_every_thread_that_may_send_at_once_keeps_a_pooled_connection() -> None:
    clients = StorageClients(storage_settings(PLAIN))
    assert transport_of(clients.table_service).pool.connection_pool_kw["maxsize"] == POOL_CONNECTIONS
    for service in (clients.queue_service, clients.blob_service):
        transport = transport_of(service)
        transport.open()
        adapter = transport.session.get_adapter("http://127.0.0.1:10002/")
        assert adapter._pool_maxsize == POOL_CONNECTIONS
        assert transport.session.trust_env is False


def test_the_table_clients_send_without_requests_unless_a_proxy_is_configured() -> None:
    assert isinstance(transport_of(StorageClients(storage_settings(PLAIN)).table_service), TableTransport)
    behind_a_proxy = StorageClients(storage_settings({**PLAIN, "HTTPS_PROXY": "http://proxy:3128"}))
    transport = transport_of(behind_a_proxy.table_service)
    assert isinstance(transport, RequestsTransport)
    assert transport._use_env_settings is True
