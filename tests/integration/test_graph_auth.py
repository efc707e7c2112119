"""Graph credentials: one per customer tenant, built from settings; the tokens they obtain shared by every
window of a process."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from azure.core.credentials_async import AsyncTokenCredential
from azure.identity.aio import ClientAssertionCredential, ClientSecretCredential, ManagedIdentityCredential
from kiota_http.middleware.options import RetryHandlerOption

from functions.adapters.graph import GraphAdapter
from functions.adapters.graph_auth import SharedGraphTokens, StaticTokenCredential, credential_for_tenant
from functions.bootstrap import Container
from functions.domain.errors import ConfigurationError
from functions.settings import Settings
from graphsim.generate import TenantSpec
from graphsim.server import GraphSimulator
from graphsim.tenant import Tenant
from tests.conftest import base_env

pytestmark = pytest.mark.integration

CUSTOMER = str(uuid.UUID(int=7, version=4))


def settings(**overrides: str) -> Settings:
    return Settings.from_env(base_env("UseDevelopmentStorage=true", **overrides))


@pytest.fixture
def sim() -> Iterator[GraphSimulator]:
    with GraphSimulator(Tenant(TenantSpec(users=3)), token="static-sim-token") as running:
        yield running


def test_static_token_settings_reach_the_simulator(sim: GraphSimulator) -> None:
    configured = settings(GRAPH_BASE_URL=sim.graph_url + "/", GRAPH_STATIC_TOKEN="static-sim-token")

    async def scenario() -> list[str]:
        graph = GraphAdapter.from_settings(configured, retry=RetryHandlerOption(delay=0))
        try:
            return await graph.verified_domains(sim.tenant.tenant_id)
        finally:
            await graph.aclose()

    assert asyncio.run(scenario()) == ["contoso.com", "sales.contoso.com"]


def test_a_static_token_credential_hands_out_its_token() -> None:
    token = asyncio.run(StaticTokenCredential("abc").get_token("https://graph.microsoft.com/.default"))
    assert token.token == "abc"


def test_client_secret_credentials_are_built_for_the_customer_tenant() -> None:
    configured = settings(
        GRAPH_BASE_URL="https://graph.microsoft.com/v1.0",
        GRAPH_AUTH="client-secret",
        GRAPH_CLIENT_ID="11111111-1111-4111-8111-111111111111",
        GRAPH_CLIENT_SECRET="not-a-real-secret",
    )
    credential = credential_for_tenant(configured, CUSTOMER)
    assert isinstance(credential, ClientSecretCredential)
    asyncio.run(credential.close())


def test_managed_identity_with_an_app_registration_federates_into_the_customer_tenant() -> None:
    configured = settings(
        GRAPH_BASE_URL="https://graph.microsoft.com/v1.0",
        GRAPH_AUTH="managed-identity",
        GRAPH_CLIENT_ID="11111111-1111-4111-8111-111111111111",
    )
    credential = credential_for_tenant(configured, CUSTOMER)
    assert isinstance(credential, ClientAssertionCredential)
    asyncio.run(credential.close())


def test_managed_identity_alone_is_used_directly() -> None:
    configured = settings(GRAPH_BASE_URL="https://graph.microsoft.com/v1.0", GRAPH_AUTH="managed-identity")
    credential = credential_for_tenant(configured, CUSTOMER)
    assert isinstance(credential, ManagedIdentityCredential)
    asyncio.run(credential.close())


@pytest.mark.parametrize(
    "overrides",
    [
        {"GRAPH_AUTH": "client-secret", "GRAPH_CLIENT_ID": "11111111-1111-4111-8111-111111111111"},
        {"GRAPH_AUTH": "client-secret", "GRAPH_CLIENT_SECRET": "s"},
        {"GRAPH_AUTH": "client-certificate", "GRAPH_CLIENT_ID": "11111111-1111-4111-8111-111111111111"},
    ],
)
def test_incomplete_credential_settings_are_a_configuration_error(overrides: dict[str, str]) -> None:
    configured = settings(GRAPH_BASE_URL="https://graph.microsoft.com/v1.0", **overrides)
    with pytest.raises(ConfigurationError):
        credential_for_tenant(configured, CUSTOMER)


def test_the_adapter_builds_one_credential_per_tenant_and_reuses_it(sim: GraphSimulator) -> None:
    built: list[str] = []

    def credential_for(tenant_id: str) -> AsyncTokenCredential:
        built.append(tenant_id)
        return StaticTokenCredential(sim.token)

    other = str(uuid.uuid4())

    async def scenario() -> None:
        graph = GraphAdapter(sim.graph_url, credential_for, retry=RetryHandlerOption(delay=0))
        try:
            for tenant_id in (sim.tenant.tenant_id, other, sim.tenant.tenant_id, other):
                await graph.verified_domains(tenant_id)
        finally:
            await graph.aclose()

    asyncio.run(scenario())
    assert built == [sim.tenant.tenant_id, other]


def test_the_windows_of_a_process_obtain_a_tenants_graph_token_once(sim: GraphSimulator) -> None:
    """Each window runs in an event loop of its own with a Graph reader of its own (and so a credential of its
    own); the app's composition root shares the tokens they obtain, so Entra ID is asked once per tenant."""
    issued: list[tuple[str, ...]] = []

    class CountingToken(StaticTokenCredential):
        async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            issued.append(scopes)
            return await super().get_token(*scopes, **kwargs)

    configured = settings(GRAPH_BASE_URL=sim.graph_url + "/", GRAPH_STATIC_TOKEN=sim.token)
    tokens = SharedGraphTokens(lambda _tenant: CountingToken(sim.token))
    container = Container(configured, graph_tokens=tokens)

    def one_window(factory: Callable[[], Any]) -> list[str]:
        async def scenario() -> list[str]:
            graph = factory()
            try:
                domains: list[str] = await graph.verified_domains(sim.tenant.tenant_id)
                return domains
            finally:
                await graph.aclose()

        return asyncio.run(scenario())

    for factory in (container.graph_factory, container.graph_factory, container.subscription_graph_factory):
        assert one_window(factory) == ["contoso.com", "sales.contoso.com"]
    assert len(issued) == 1
