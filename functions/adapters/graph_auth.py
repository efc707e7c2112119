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

import threading
import time
from collections.abc import Callable
from typing import Any

from azure.core.credentials import AccessToken
from azure.core.credentials_async import AsyncTokenCredential

from functions.domain.errors import ConfigurationError
from functions.settings import Settings

# The audience Entra ID uses for workload identity federation.
_TOKEN_EXCHANGE_SCOPE = "api://AzureADTokenExchange/.default"  # noqa: S105  (a scope, not a secret)
# A shared token this close to expiring is not handed out: a request might outlive it. azure-core's bearer
# token policy refreshes this long before expiry as well.
REFRESH_MARGIN_SECONDS = 300

_TokenKey = tuple[str, tuple[str, ...], bool]  # tenant, scopes, continuous access evaluation


class SharedGraphTokens:
    """Graph tokens per tenant, shared by every window the process runs.

    Each queue invocation runs its own event loop, so each window builds its own Graph client and credential,
    and an azure-identity credential caches the tokens it obtained for itself alone. Every window therefore
    asked Entra ID for a new token (and, federated, the managed identity endpoint for a new assertion): 13
    token requests per mailbox-year, 1.3 million for a 100,000-user backfill, each a round trip before the
    window's first Graph request, and all of them against Entra ID's own request limits. Here a token, once
    issued, serves every window of its tenant until it is within `REFRESH_MARGIN_SECONDS` of expiring, as it
    would within one credential.

    The credentials stay one per window (their HTTP sessions belong to its event loop); only issued tokens
    are shared, in this process's memory, never on disk. A claims challenge (continuous access evaluation:
    Graph refused the token) always goes to the credential, and its answer replaces the shared token. A
    customer who deletes or disables the app in Entra ID is refused a new token at once; a token already
    issued lasts until it expires, as it would in one long-lived credential, unless Graph refuses it with
    such a challenge. Whether we may read at all is decided by our own consent, at every fence, never by a
    token.
    """

    def __init__(
        self, credential_for: Callable[[str], AsyncTokenCredential], *, clock: Callable[[], float] = time.time
    ) -> None:
        self._credential_for = credential_for
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[_TokenKey, AccessToken] = {}

    def credential_for(self, tenant_id: str) -> AsyncTokenCredential:
        """A credential for one window's Graph client: shared tokens first, its own credential otherwise."""
        return _SharedTokenCredential(self, tenant_id)

    def new_credential(self, tenant_id: str) -> AsyncTokenCredential:
        """A window's own credential, for when no shared token will do."""
        return self._credential_for(tenant_id)

    def unexpired(self, key: _TokenKey) -> AccessToken | None:
        """The shared token for (tenant, scopes, CAE), unless there is none or it is about to expire."""
        with self._lock:
            token = self._tokens.get(key)
        if token is None or token.expires_on - self._clock() <= REFRESH_MARGIN_SECONDS:
            return None
        return token

    def keep(self, key: _TokenKey, token: AccessToken) -> None:
        with self._lock:
            self._tokens[key] = token


class _SharedTokenCredential(AsyncTokenCredential):
    def __init__(self, tokens: SharedGraphTokens, tenant_id: str) -> None:
        self._tokens, self._tenant_id = tokens, tenant_id
        self._credential: AsyncTokenCredential | None = None  # built on the first token this window obtains

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        key: _TokenKey = (self._tenant_id, tuple(sorted(scopes)), enable_cae)
        shareable = tenant_id is None and not kwargs  # a token for this window's tenant, nothing special
        if shareable and claims is None:
            shared = self._tokens.unexpired(key)
            if shared is not None:
                return shared
        if self._credential is None:
            self._credential = self._tokens.new_credential(self._tenant_id)
        token = await self._credential.get_token(
            *scopes, claims=claims, tenant_id=tenant_id, enable_cae=enable_cae, **kwargs
        )
        if shareable:
            self._tokens.keep(key, token)
        return token

    async def close(self) -> None:
        if self._credential is not None:
            await self._credential.close()

    async def __aenter__(self) -> _SharedTokenCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


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
