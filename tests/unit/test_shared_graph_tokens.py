"""Graph tokens shared by the windows of a process (functions/adapters/graph_auth.py `SharedGraphTokens`):
each window has its own credential, but a tenant's token, once issued, serves every window until it is about
to expire. Each window here runs in its own event loop, as each queue invocation does."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from azure.core.credentials import AccessToken
from azure.core.credentials_async import AsyncTokenCredential

from functions.adapters.graph_auth import REFRESH_MARGIN_SECONDS, SharedGraphTokens

GRAPH = "https://graph.microsoft.com/.default"
LIFETIME = 3600


@dataclass
class Issuer:
    """Stands in for Entra ID: counts the tokens it issues, per tenant, and what each request asked for."""

    now: float = 1_000_000.0
    issued: list[tuple[str, str | None]] = field(default_factory=list)  # (tenant, claims)
    closed: int = 0

    def credential_for(self, tenant_id: str) -> AsyncTokenCredential:
        return _Credential(self, tenant_id)

    def clock(self) -> float:
        return self.now


class _Credential(AsyncTokenCredential):
    def __init__(self, issuer: Issuer, tenant_id: str) -> None:
        self._issuer, self._tenant_id = issuer, tenant_id

    async def get_token(self, *_scopes: str, claims: str | None = None, **_kwargs: Any) -> AccessToken:
        self._issuer.issued.append((self._tenant_id, claims))
        number = len(self._issuer.issued)
        return AccessToken(f"{self._tenant_id}-token-{number}", int(self._issuer.now) + LIFETIME)

    async def close(self) -> None:
        self._issuer.closed += 1


def window(tokens: SharedGraphTokens, tenant_id: str, *, claims: str | None = None) -> str:
    """What one window's Graph client gets when it asks for a token (in an event loop of its own)."""

    async def ask() -> str:
        async with tokens.credential_for(tenant_id) as credential:
            return (await credential.get_token(GRAPH, claims=claims, enable_cae=True)).token

    return asyncio.run(ask())


def test_the_windows_of_a_tenant_share_the_token_the_first_one_obtained() -> None:
    issuer = Issuer()
    tokens = SharedGraphTokens(issuer.credential_for, clock=issuer.clock)
    seen = {window(tokens, "tenant-a") for _ in range(12)}
    assert issuer.issued == [("tenant-a", None)]
    assert seen == {"tenant-a-token-1"}


def test_a_tenant_never_gets_another_tenants_token() -> None:
    issuer = Issuer()
    tokens = SharedGraphTokens(issuer.credential_for, clock=issuer.clock)
    assert window(tokens, "tenant-a") == "tenant-a-token-1"
    assert window(tokens, "tenant-b") == "tenant-b-token-2"
    assert window(tokens, "tenant-a") == "tenant-a-token-1"
    assert [tenant for tenant, _ in issuer.issued] == ["tenant-a", "tenant-b"]


def test_a_token_about_to_expire_is_not_handed_out_but_obtained_again() -> None:
    issuer = Issuer()
    tokens = SharedGraphTokens(issuer.credential_for, clock=issuer.clock)
    window(tokens, "tenant-a")
    issuer.now += LIFETIME - REFRESH_MARGIN_SECONDS - 1  # still more than the margin left
    assert window(tokens, "tenant-a") == "tenant-a-token-1"
    issuer.now += 1  # the margin reached
    assert window(tokens, "tenant-a") == "tenant-a-token-2"
    assert window(tokens, "tenant-a") == "tenant-a-token-2"  # and the new one is shared in turn


def test_a_claims_challenge_goes_to_the_credential_and_its_answer_replaces_the_shared_token() -> None:
    issuer = Issuer()
    tokens = SharedGraphTokens(issuer.credential_for, clock=issuer.clock)
    window(tokens, "tenant-a")
    # Graph refused the shared token (continuous access evaluation): the challenge carries claims.
    assert (
        window(tokens, "tenant-a", claims='{"access_token":{"nbf":{"essential":true}}}') == "tenant-a-token-2"
    )
    assert issuer.issued[-1][1] is not None
    assert window(tokens, "tenant-a") == "tenant-a-token-2"


def test_a_window_that_used_a_shared_token_builds_no_credential_and_one_that_did_closes_its_own() -> None:
    built: list[str] = []
    issuer = Issuer()

    def credential_for(tenant_id: str) -> AsyncTokenCredential:
        built.append(tenant_id)
        return issuer.credential_for(tenant_id)

    tokens = SharedGraphTokens(credential_for, clock=issuer.clock)
    for _ in range(3):
        window(tokens, "tenant-a")
    assert built == ["tenant-a"]
    assert issuer.closed == 1
