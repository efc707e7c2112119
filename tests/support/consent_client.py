"""Talking to the consent API and the admin-center webhook of a running app, as Dynamics and the admin
center would: signed webhooks and Entra-shaped tokens from a JWKS served on 127.0.0.1. Used by the e2e tests
and the demo.

    with Identity() as identity:
        host = start_app_host(connection_string, **identity.host_settings())
        client = ConsentClient(host, identity)
        client.deliver(admin_center.granted(tenant_id, now))
        client.get(f"/api/tenants/{tenant_id}/consent", tenant_id)
"""

from __future__ import annotations

import json
import uuid
from types import TracebackType
from typing import Any, Protocol

import httpx

from tests.conftest import WEBHOOK_SECRET
from tests.support.identity import AUDIENCE, ISSUER_TEMPLATE, JwksServer, TokenFactory, generate_rsa_key
from tests.support.identity import signed_webhook_headers as _signed

MANAGE = "Consent.Manage"
WEBHOOK_PATH = "/api/webhooks/admin-center"


class HttpHost(Protocol):
    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response: ...


class Identity:
    """A signing key, its JWKS on 127.0.0.1, and a token factory for it."""

    def __init__(self, kid: str = "key-1") -> None:
        self.key = generate_rsa_key()
        self.jwks = JwksServer([(self.key, kid)])
        self.tokens = TokenFactory(self.key, kid, AUDIENCE, ISSUER_TEMPLATE)

    def __enter__(self) -> Identity:
        self.jwks.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.jwks.stop()

    def host_settings(self) -> dict[str, str]:
        return {
            "AUTH_JWKS_URL": self.jwks.url,
            "AUTH_AUDIENCE": AUDIENCE,
            "AUTH_ISSUER": ISSUER_TEMPLATE,
        }

    def api_only_host_settings(self) -> dict[str, str]:
        """Settings of a host that serves the API but leaves queued purges and ingestion alone.

        Tests that specify the consent API read purge records and the audit log right after a change; a
        running purge worker would move them on underneath (queued → verified, extra step entries).
        """
        return {
            **self.host_settings(),
            "AzureWebJobs.purge_worker.Disabled": "true",
            "AzureWebJobs.ingestion_worker.Disabled": "true",
            "AzureWebJobs.membership_worker.Disabled": "true",
        }


class ConsentClient:
    def __init__(self, host: HttpHost, identity: Identity, secret: str = WEBHOOK_SECRET) -> None:
        self.host = host
        self.identity = identity
        self.secret = secret

    def bearer(self, tenant_id: str, *, roles: tuple[str, ...] = (MANAGE,), oid: str | None = None) -> str:
        return self.identity.tokens.authorization(tenant_id, roles=roles, oid=oid or str(uuid.uuid4()))

    def call(
        self,
        method: str,
        path: str,
        tenant_id: str,
        *,
        roles: tuple[str, ...] = (MANAGE,),
        oid: str | None = None,
        authorization: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        headers["Authorization"] = authorization or self.bearer(tenant_id, roles=roles, oid=oid)
        return self.host.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, tenant_id: str, **kwargs: Any) -> httpx.Response:
        return self.call("GET", path, tenant_id, **kwargs)

    def put(self, path: str, tenant_id: str, **kwargs: Any) -> httpx.Response:
        return self.call("PUT", path, tenant_id, **kwargs)

    def delete(self, path: str, tenant_id: str, **kwargs: Any) -> httpx.Response:
        return self.call("DELETE", path, tenant_id, **kwargs)

    def deliver(
        self,
        event: dict[str, Any] | None = None,
        *,
        body: bytes | None = None,
        msg_id: str | None = None,
        content_type: str = "application/cloudevents+json",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST a signed webhook (`body` overrides the JSON of `event`; `headers` override the signature)."""
        raw = body if body is not None else json.dumps(event).encode()
        sent = _signed(self.secret, raw, msg_id=msg_id) if headers is None else dict(headers)
        sent["Content-Type"] = content_type
        return self.host.request("POST", WEBHOOK_PATH, content=raw, headers=sent)

    def state(self, tenant_id: str) -> dict[str, Any]:
        """Consent, opt-outs and purges of a tenant as the API shows them (minus the evaluation time)."""
        consent = self.get(f"/api/tenants/{tenant_id}/consent", tenant_id).json()
        consent.pop("evaluatedAt", None)
        return {
            "consent": consent,
            "optOuts": self.get(f"/api/tenants/{tenant_id}/opt-outs", tenant_id).json(),
            "purges": self.get(f"/api/tenants/{tenant_id}/purges", tenant_id).json(),
        }

    def audit(self, tenant_id: str, limit: int = 200) -> list[dict[str, Any]]:
        response = self.get(f"/api/tenants/{tenant_id}/audit", tenant_id, params={"limit": limit})
        entries: list[dict[str, Any]] = response.json()["entries"]
        return entries
