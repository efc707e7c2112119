"""Entra ID bearer tokens for the REST API (SPEC section 3, "REST API — bearer tokens from Entra ID").

`TokenValidator.validate` turns an `Authorization` header into a `Principal` or raises `Unauthenticated`
(401). What it checks, in order: the `Bearer` scheme; the header's `alg` is RS256 and nothing else (no
`none`, no HS256 — an HS256 token "signed" with our public key as the HMAC secret is the classic
key-confusion attack); the signing key by `kid` from the JWKS; the signature; `aud`; `tid` is a GUID and
`iss` equals `AUTH_ISSUER` with `{tenantId}` replaced by that `tid`; `exp`/`nbf`/`iat` against the caller's
`now` with the leeway. Whether `tid` is the route's tenant, and which roles are needed, is authorisation
(`functions/domain/access.py`, 403), not here.

PyJWT reads the wall clock for `exp`/`nbf`/`iat` and cannot be given another one, so those checks are
switched off in PyJWT and done here against the injected `now` (the tests and the demo move time).

Keys come from `JwksCache`: fetched on first use, kept for `max_age`, refreshed once when a token names an
unknown `kid` (Entra rotates keys by publishing the new one first), and such forced refreshes happen at most
once per `min_refresh_interval`, so a flood of tokens with made-up `kid`s cannot hammer the JWKS endpoint.
A JWKS that cannot be fetched is an authentication failure (logged), never a 500.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import jwt

from functions.domain.access import Principal, is_guid
from functions.domain.errors import ConfigurationError, Unauthenticated

__all__ = ["JwksCache", "Principal", "TokenValidator", "fetch_url"]

logger = logging.getLogger(__name__)

ALGORITHM = "RS256"
DEFAULT_LEEWAY = timedelta(minutes=5)
FETCH_TIMEOUT_SECONDS = 5.0
MAX_JWKS_BYTES = 1 << 20  # Entra's JWKS is a few KiB; a megabyte is a broken or hostile endpoint

Fetch = Callable[[str], bytes]


def fetch_url(url: str, timeout: float = FETCH_TIMEOUT_SECONDS) -> bytes:
    """GET `url` and return its body; raises `OSError` (or `http.client.HTTPException`) on any failure."""
    _require_safe_url(url)
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310  (scheme checked above)
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  (scheme checked above)
        body: bytes = response.read(MAX_JWKS_BYTES + 1)
    if len(body) > MAX_JWKS_BYTES:
        raise OSError(f"the JWKS at {url} is larger than {MAX_JWKS_BYTES} bytes")
    return body


def _require_safe_url(url: str) -> None:
    """HTTPS, or plain HTTP to this machine only (the local host, tests and the demo serve keys there)."""
    parts = urllib.parse.urlsplit(url)
    loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
    if not (parts.scheme == "https" or (parts.scheme == "http" and loopback)) or not parts.hostname:
        raise ConfigurationError(f"AUTH_JWKS_URL must be an https URL (or http on loopback): {url!r}")


class JwksCache:
    """The RS256 signing keys of a JWKS URL by `kid`, fetched lazily and refreshed sparingly."""

    def __init__(
        self,
        url: str,
        *,
        fetch: Fetch | None = None,
        min_refresh_interval: timedelta = timedelta(minutes=1),
        max_age: timedelta = timedelta(hours=24),
        failure_backoff: timedelta = timedelta(seconds=10),
    ) -> None:
        if fetch is None:
            _require_safe_url(url)
        self._url = url
        self._fetch: Fetch = fetch or fetch_url
        self._min_refresh_interval = min_refresh_interval
        self._max_age = max_age
        self._failure_backoff = failure_backoff
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: datetime | None = None
        self._last_forced_at: datetime | None = None
        self._failed_at: datetime | None = None
        # One fetch at a time: concurrent requests with a new kid wait for the same refresh.
        self._lock = threading.Lock()

    def key_for(self, kid: str, now: datetime) -> jwt.PyJWK:
        """The key named `kid`; `Unauthenticated` when the JWKS does not have it (or cannot be fetched)."""
        with self._lock:
            fetched = self._fetched_at
            attempted = False
            if fetched is None or now - fetched >= self._max_age or now < fetched:
                attempted = self._refresh(now, reason="first use" if fetched is None else "cache expired")
            key = self._keys.get(kid)
            # A kid we have never seen may be a key Entra has just started using: look once more, unless
            # this call has just fetched or another unknown kid caused a refresh moments ago.
            if key is None and not attempted and self._may_force_refresh(now):
                if self._refresh(now, reason=f"unknown kid {kid!r}"):
                    self._last_forced_at = now
                key = self._keys.get(kid)
            have_keys = self._fetched_at is not None
        if key is None:
            if not have_keys:
                raise Unauthenticated("the JWKS could not be fetched")
            raise Unauthenticated(f"no signing key with kid {kid!r} in the JWKS")
        return key

    def _may_force_refresh(self, now: datetime) -> bool:
        last = self._last_forced_at
        # A clock that went backwards (tests replaying time) counts as time having passed.
        return last is None or now < last or now - last >= self._min_refresh_interval

    def _refresh(self, now: datetime, *, reason: str) -> bool:
        """Fetch the JWKS, keeping the cached keys on failure; False when skipped after a recent failure."""
        failed = self._failed_at
        if failed is not None and failed <= now < failed + self._failure_backoff:
            # A failing endpoint is not asked again at once, or every request would wait for the timeout.
            logger.info("JWKS refresh (%s) skipped: the last fetch failed moments ago", reason)
            return False
        try:
            keys = _parse_jwks(self._fetch(self._url))
        except (OSError, http.client.HTTPException, ValueError) as error:
            self._failed_at = now
            logger.warning("JWKS fetch from %s failed (%s): %s", self._url, reason, error)
            return True
        self._keys = keys
        self._fetched_at = now
        self._failed_at = None
        logger.info("JWKS fetched from %s (%s): %d signing keys", self._url, reason, len(keys))
        return True


def _parse_jwks(body: bytes) -> dict[str, jwt.PyJWK]:
    """The usable RS256 signature keys of a JWKS document; anything else in it is ignored."""
    document = json.loads(body)
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("the JWKS is not an object with a 'keys' list")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA" or not isinstance(entry.get("kid"), str):
            continue
        if entry.get("use", "sig") != "sig" or entry.get("alg", ALGORITHM) != ALGORITHM:
            continue
        try:
            # Bind the key to RS256 whatever the JWKS says, so verification cannot be steered by the token.
            keys[entry["kid"]] = jwt.PyJWK(entry, algorithm=ALGORITHM)
        except jwt.PyJWTError:
            logger.warning("JWKS key %r is not a usable RSA key; ignored", entry["kid"])
    return keys


class TokenValidator:
    """Authenticates `Authorization: Bearer <jwt>` headers issued by Entra ID."""

    def __init__(
        self,
        jwks_url: str,
        audience: str,
        issuer_template: str,
        *,
        leeway: timedelta = DEFAULT_LEEWAY,
        fetch: Fetch | None = None,
        min_refresh_interval: timedelta = timedelta(minutes=1),
    ) -> None:
        if not jwks_url:
            raise ConfigurationError("AUTH_JWKS_URL is not set")
        if not audience:
            raise ConfigurationError("AUTH_AUDIENCE is not set")
        if not issuer_template:
            raise ConfigurationError("AUTH_ISSUER is not set")
        self._audience = audience
        self._issuer_template = issuer_template
        self._leeway = leeway
        self._keys = JwksCache(jwks_url, fetch=fetch, min_refresh_interval=min_refresh_interval)

    def validate(self, authorization: str | None, tenant_id: str, now: datetime) -> Principal:
        """The caller of a request to `tenant_id`'s routes; `Unauthenticated` for any invalid token."""
        try:
            return self._validate(authorization, now)
        except Unauthenticated as error:
            # The route's tenant is not validated yet (401 comes before 400): never log it raw.
            shown = tenant_id.lower() if is_guid(tenant_id) else "(not a GUID)"
            logger.info("bearer token rejected on a route of tenant %r: %s", shown, error)
            raise

    def _validate(self, authorization: str | None, now: datetime) -> Principal:
        token = _bearer_token(authorization)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise Unauthenticated(f"the token is malformed: {error}") from None
        # Decided before any key lookup so a forged header never costs a JWKS fetch.
        if header.get("alg") != ALGORITHM:
            raise Unauthenticated(f"token algorithm {header.get('alg')!r} is not {ALGORITHM}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("the token names no kid")
        key = self._keys.key_for(kid, now)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                options={
                    "verify_exp": False,  # checked below against the injected clock
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_iss": False,  # depends on tid, checked below
                    "require": ["exp", "iss", "aud", "tid"],
                    "enforce_minimum_key_length": True,
                },
            )
        except jwt.PyJWTError as error:
            raise Unauthenticated(f"the token is invalid: {error}") from None
        tenant = _string_claim(claims, "tid")
        if tenant is None or not is_guid(tenant):
            raise Unauthenticated("the token's tid is not a GUID")
        expected_issuer = self._issuer_template.replace("{tenantId}", tenant)
        if claims.get("iss") != expected_issuer:
            raise Unauthenticated(f"the token's iss is not {expected_issuer}")
        self._check_times(claims, now)
        return Principal(
            tenant_id=tenant,
            object_id=_string_claim(claims, "oid"),
            roles=_roles(claims),
            subject=_string_claim(claims, "sub"),
            app_id=_string_claim(claims, "azp") or _string_claim(claims, "appid"),
        )

    def _check_times(self, claims: Mapping[str, Any], now: datetime) -> None:
        instant = now.timestamp()
        leeway = self._leeway.total_seconds()
        exp = _number_claim(claims, "exp")
        if exp is None:
            raise Unauthenticated("the token's exp is not a number")
        if exp <= instant - leeway:
            raise Unauthenticated("the token has expired")
        for name in ("nbf", "iat"):
            if name in claims:
                value = _number_claim(claims, name)
                if value is None:
                    raise Unauthenticated(f"the token's {name} is not a number")
                if value > instant + leeway:
                    raise Unauthenticated(f"the token is not valid yet ({name} is in the future)")


def _bearer_token(authorization: str | None) -> str:
    if not authorization or not authorization.strip():
        raise Unauthenticated("no Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    # The scheme is case-insensitive (RFC 9110 section 11.1).
    if scheme.lower() != "bearer":
        raise Unauthenticated("the Authorization scheme is not Bearer")
    token = token.strip()
    if not token:
        raise Unauthenticated("the Authorization header holds no token")
    return token


def _string_claim(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value if isinstance(value, str) and value else None


def _number_claim(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    # bool is an int in Python; `exp: true` is not a time.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _roles(claims: Mapping[str, Any]) -> frozenset[str]:
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise Unauthenticated("the token's roles claim is not a list of strings")
    return frozenset(roles)
