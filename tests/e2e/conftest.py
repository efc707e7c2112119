"""E2E fixtures: the app in the local host, as a subprocess on a free port, against the session's Azurite.

- `app_host`: one host per test module with the default test settings; share it (use `tenant_id`).
- `app_host_factory(settings=None, **overrides)`: a host with other settings (e.g. a Graph simulator URL);
  every host it starts is stopped at the end of the module.

Hosts live per module, not per session: every host polls the same Azurite queues, so a host left running
from another module would consume this module's purge and ingestion messages.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest

from tests.support.apphost import AppHost, AppHostFactory, start_app_host
from tests.support.consent_client import ConsentClient, Identity
from tests.support.identity import JwksServer, TokenFactory, generate_rsa_key


@pytest.fixture(scope="module")
def app_host_factory(storage_connection_string: str) -> Iterator[AppHostFactory]:
    started: list[AppHost] = []

    def factory(settings: Mapping[str, str] | None = None, **overrides: str) -> AppHost:
        host = start_app_host(storage_connection_string, settings, **overrides)
        started.append(host)
        return host

    yield factory
    for host in started:
        host.close()


@pytest.fixture(scope="module")
def app_host(app_host_factory: AppHostFactory) -> AppHost:
    return app_host_factory()


@pytest.fixture(scope="module")
def tokens() -> Iterator[tuple[JwksServer, TokenFactory]]:
    """A JWKS on 127.0.0.1 and a factory of tokens it verifies, for modules that start their own hosts."""
    key = generate_rsa_key()
    with JwksServer([(key, "k1")]) as jwks:
        yield jwks, TokenFactory(key, "k1")


@pytest.fixture(scope="module")
def identity() -> Iterator[Identity]:
    """A stand-in Entra ID (JWKS on 127.0.0.1, token minting) for the module's hosts to trust."""
    with Identity() as started:
        yield started


@pytest.fixture(scope="module")
def client(app_host_factory: AppHostFactory, identity: Identity) -> ConsentClient:
    """A consent API client on a host that trusts `identity` (the API only: no Graph behind it). Modules
    that need the whole host settings define their own `client`."""
    return ConsentClient(app_host_factory(**identity.api_only_host_settings()), identity)
