"""Credentials for Microsoft Graph, one per customer tenant (the app is multi-tenant: each customer consents
to our app registration, and tokens are issued by the customer's tenant).

GRAPH_AUTH selects how:
- `managed-identity`: the Function App's managed identity is a federated credential of the multi-tenant app
  registration (GRAPH_CLIENT_ID): an MI token for `api://AzureADTokenExchange` is the client assertion for
  the customer tenant. No secret exists anywhere. Without GRAPH_CLIENT_ID the managed identity is used
  directly, which only reaches the app's home tenant.
- `client-secret` / `client-certificate`: the app registration's secret or certificate (GRAPH_CLIENT_ID,
  GRAPH_CLIENT_SECRET or GRAPH_CERTIFICATE_PATH).
- `static-token`: GRAPH_STATIC_TOKEN as is; `Settings` allows it only with a loopback GRAPH_BASE_URL (the
  Graph simulator).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from azure.core.credentials import AccessToken
from azure.core.credentials_async import AsyncTokenCredential

from functions.domain.errors import ConfigurationError
from functions.settings import Settings

# The audience Entra ID uses for workload identity federation.
_TOKEN_EXCHANGE_SCOPE = "api://AzureADTokenExchange/.default"  # noqa: S105  (a scope, not a secret)


class StaticTokenCredential(AsyncTokenCredential):
    """Hands out one fixed bearer token (the simulator's), valid for an hour from each call."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def get_token(
        self,
        *_scopes: str,
        claims: str | None = None,  # noqa: ARG002  (part of the protocol; a static token has no claims)
        tenant_id: str | None = None,  # noqa: ARG002
        enable_cae: bool = False,  # noqa: ARG002
        **_kwargs: Any,
    ) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + 3600)

    async def close(self) -> None:
        """Nothing to release."""

    async def __aenter__(self) -> StaticTokenCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def credential_for_tenant(settings: Settings, tenant_id: str) -> AsyncTokenCredential:
    """A new credential that obtains Graph tokens issued by `tenant_id`. Callers cache it per tenant."""
    # Imported here: azure.identity is heavy and the simulator path never needs it.
    from azure.identity.aio import (  # noqa: PLC0415
        CertificateCredential,
        ClientAssertionCredential,
        ClientSecretCredential,
        ManagedIdentityCredential,
    )

    mode = settings.graph_auth
    client_id = settings.graph_client_id
    if mode == "static-token":
        if not settings.graph_static_token:
            raise ConfigurationError("GRAPH_AUTH=static-token needs GRAPH_STATIC_TOKEN")
        return StaticTokenCredential(settings.graph_static_token)
    if mode == "managed-identity":
        identity_client_id = settings.storage.managed_identity_client_id
        if not client_id:
            return ManagedIdentityCredential(client_id=identity_client_id)
        return ClientAssertionCredential(
            tenant_id, client_id, _managed_identity_assertion(identity_client_id)
        )
    if not client_id:
        raise ConfigurationError(f"GRAPH_AUTH={mode} needs GRAPH_CLIENT_ID")
    if mode == "client-secret":
        if not settings.graph_client_secret:
            raise ConfigurationError("GRAPH_AUTH=client-secret needs GRAPH_CLIENT_SECRET")
        return ClientSecretCredential(tenant_id, client_id, settings.graph_client_secret)
    if not settings.graph_certificate_path:
        raise ConfigurationError("GRAPH_AUTH=client-certificate needs GRAPH_CERTIFICATE_PATH")
    return CertificateCredential(tenant_id, client_id, certificate_path=settings.graph_certificate_path)


def _managed_identity_assertion(identity_client_id: str | None) -> Callable[[], str]:
    """The assertion callback of ClientAssertionCredential (which wants a synchronous function).

    The synchronous credential caches its token, so the event loop is blocked only on the rare refresh.
    """
    from azure.identity import ManagedIdentityCredential  # noqa: PLC0415

    identity = ManagedIdentityCredential(client_id=identity_client_id)

    def assertion() -> str:
        token: str = identity.get_token(_TOKEN_EXCHANGE_SCOPE).token
        return token

    return assertion
