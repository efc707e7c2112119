"""A stand-in for Entra ID and the admin center: signing keys, a JWKS server, tokens, signed webhooks.

Used by the token and webhook tests, the e2e tests and the demo (so nothing here imports pytest).

    key = generate_rsa_key()
    with JwksServer() as jwks:
        jwks.add_key(key, "key-1")
        tokens = TokenFactory(key, "key-1", audience="api://app", issuer_template=ISSUER_TEMPLATE)
        token = tokens.mint(tenant_id, roles=["Consent.Manage"])
        # AUTH_JWKS_URL = jwks.url

The bad tokens of the validation matrix come from the same factory (`mint_alg_none`,
`mint_hs256_with_public_key`, `with_kid`, `with_key`, `mint_expired`, `mint_not_yet_valid`, or
`mint(..., aud=...)` / `mint(..., iss=...)` for a wrong audience or issuer).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

# Re-exported: the tests and the development sign-in of `make serve` share one audience and issuer.
from devhost.identity_provider import AUDIENCE, ISSUER_TEMPLATE
from functions.adapters.signatures import sign


def generate_rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def public_jwk(key: rsa.RSAPrivateKey | rsa.RSAPublicKey, kid: str) -> dict[str, Any]:
    """The JWKS entry of a key, shaped like Entra's (kty, use, kid, n, e; no `alg`)."""
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    entry: dict[str, Any] = RSAAlgorithm.to_jwk(public, as_dict=True)
    entry.pop("alg", None)
    entry.update({"kid": kid, "use": "sig"})
    return entry


def public_key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class JwksServer:
    """`{"keys": [...]}` over HTTP on 127.0.0.1 at a free port, in a background thread.

    Keys can be added, removed or replaced while it runs (key rotation); `request_count` counts the GETs it
    answered, to prove caching and the single refresh; `fail_with(503)` makes it answer errors.
    """

    def __init__(
        self, keys: Iterable[tuple[rsa.RSAPrivateKey | rsa.RSAPublicKey, str]] = (), path: str = "/jwks"
    ) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Any]] = {kid: public_jwk(key, kid) for key, kid in keys}
        self._count = 0
        self._failure_status: int | None = None
        self._path = path
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- keys ---------------------------------------------------------------------------------------------

    def add_key(self, key: rsa.RSAPrivateKey | rsa.RSAPublicKey, kid: str) -> None:
        with self._lock:
            self._entries[kid] = public_jwk(key, kid)

    def remove_key(self, kid: str) -> None:
        with self._lock:
            self._entries.pop(kid, None)

    def replace_keys(self, keys: Iterable[tuple[rsa.RSAPrivateKey | rsa.RSAPublicKey, str]]) -> None:
        entries = {kid: public_jwk(key, kid) for key, kid in keys}
        with self._lock:
            self._entries = entries

    def fail_with(self, status: int | None) -> None:
        """Answer every request with `status` (None: serve the keys again)."""
        with self._lock:
            self._failure_status = status

    @property
    def request_count(self) -> int:
        with self._lock:
            return self._count

    def document(self) -> dict[str, Any]:
        with self._lock:
            return {"keys": list(self._entries.values())}

    # --- server -------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the JWKS server is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self._path}"

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with owner._lock:
                    owner._count += 1
                    failure = owner._failure_status
                if self.path != owner._path:
                    self._reply(404, b"{}")
                elif failure is not None:
                    self._reply(failure, b'{"error":"unavailable"}')
                else:
                    self._reply(200, json.dumps(owner.document()).encode())

            def _reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (the stdlib's name)
                """Quiet: tests and the demo print what matters themselves."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A short poll interval: `shutdown()` waits for the next poll, and tests stop a server each.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="jwks-server", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> JwksServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _compact(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """`header.payload` of a JWS, for tokens PyJWT refuses to produce (alg none, key confusion)."""
    return _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())


class TokenFactory:
    """Mints Entra-ID-shaped access tokens (v2) signed with `private_key` under `kid`."""

    def __init__(
        self,
        private_key: rsa.RSAPrivateKey,
        kid: str,
        audience: str = AUDIENCE,
        issuer_template: str = ISSUER_TEMPLATE,
    ) -> None:
        self.private_key = private_key
        self.kid = kid
        self.audience = audience
        self.issuer_template = issuer_template

    def claims(
        self,
        tenant_id: str,
        *,
        roles: Iterable[str] = (),
        oid: str | None = None,
        lifetime: timedelta = timedelta(hours=1),
        now: datetime | None = None,
        **claim_overrides: Any,
    ) -> dict[str, Any]:
        """The payload `mint` signs; an override of `None` removes that claim."""
        issued = int((now or datetime.now(UTC)).timestamp())
        claims: dict[str, Any] = {
            "aud": self.audience,
            "iss": self.issuer_template.replace("{tenantId}", tenant_id),
            "tid": tenant_id,
            "iat": issued,
            "nbf": issued,
            "exp": issued + int(lifetime.total_seconds()),
            "sub": str(uuid.uuid4()),
            "azp": str(uuid.uuid4()),
            "ver": "2.0",
        }
        if oid is not None:
            claims["oid"] = oid
        role_list = list(roles)
        if role_list:
            claims["roles"] = role_list
        for name, value in claim_overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def mint(
        self,
        tenant_id: str,
        *,
        roles: Iterable[str] = (),
        oid: str | None = None,
        lifetime: timedelta = timedelta(hours=1),
        now: datetime | None = None,
        **claim_overrides: Any,
    ) -> str:
        """A valid RS256 token for `tenant_id` issued at `now` (default: the wall clock)."""
        payload = self.claims(tenant_id, roles=roles, oid=oid, lifetime=lifetime, now=now, **claim_overrides)
        return jwt.encode(
            payload, self.private_key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"}
        )

    def authorization(self, tenant_id: str, **kwargs: Any) -> str:
        """`Bearer <token>`, ready for an Authorization header."""
        return f"Bearer {self.mint(tenant_id, **kwargs)}"

    # --- the bad tokens of the matrix ---------------------------------------------------------------------

    def with_kid(self, kid: str) -> TokenFactory:
        """Same key, another kid (an unknown kid unless the JWKS has it)."""
        return TokenFactory(self.private_key, kid, self.audience, self.issuer_template)

    def with_key(self, private_key: rsa.RSAPrivateKey) -> TokenFactory:
        """Same kid, another key: a signature the published key does not verify."""
        return TokenFactory(private_key, self.kid, self.audience, self.issuer_template)

    def mint_expired(self, tenant_id: str, now: datetime, *, ago: timedelta, **kwargs: Any) -> str:
        """A token whose `exp` was `ago` before `now`."""
        lifetime = timedelta(hours=1)
        return self.mint(tenant_id, now=now - ago - lifetime, lifetime=lifetime, **kwargs)

    def mint_not_yet_valid(self, tenant_id: str, now: datetime, *, ahead: timedelta, **kwargs: Any) -> str:
        """A token whose `nbf` (and `iat`) is `ahead` after `now`."""
        return self.mint(tenant_id, now=now + ahead, **kwargs)

    def mint_alg_none(self, tenant_id: str, **kwargs: Any) -> str:
        """An unsigned token (`alg: none`) with otherwise valid claims."""
        header = {"alg": "none", "typ": "JWT", "kid": self.kid}
        return _compact(header, self.claims(tenant_id, **kwargs)) + "."

    def mint_hs256_with_public_key(self, tenant_id: str, **kwargs: Any) -> str:
        """HS256 with the public key's PEM as the HMAC secret: the RS/HS key-confusion attack."""
        header = {"alg": "HS256", "typ": "JWT", "kid": self.kid}
        signing_input = _compact(header, self.claims(tenant_id, **kwargs))
        mac = hmac.new(public_key_pem(self.private_key), signing_input.encode(), hashlib.sha256).digest()
        return signing_input + "." + _b64url(mac)


def signed_webhook_headers(
    secret: str, body: bytes, *, msg_id: str | None = None, timestamp: int | datetime | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers the admin center sends with `body` (merge in Content-Type)."""
    message_id = msg_id or f"msg_{uuid.uuid4().hex}"
    if timestamp is None:
        timestamp = datetime.now(UTC)
    seconds = int(timestamp.timestamp()) if isinstance(timestamp, datetime) else timestamp
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(seconds),
        "webhook-signature": sign(secret, message_id, seconds, body),
    }
