"""Bearer-token authentication against a real JWKS endpoint over HTTP on 127.0.0.1.

Every token here is minted by `tests.support.identity` the way Entra ID shapes them; the validator fetches
keys through its real HTTP path (no injected `fetch`), so caching and the single refresh are counted on the
server.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from functions.adapters.tokens import TokenValidator
from functions.domain.access import CONSENT_MANAGE
from functions.domain.errors import ConfigurationError, Unauthenticated
from tests.support.identity import (
    AUDIENCE,
    ISSUER_TEMPLATE,
    JwksServer,
    TokenFactory,
    generate_rsa_key,
)

pytestmark = pytest.mark.integration

KID = "key-2026-a"


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return generate_rsa_key()


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return generate_rsa_key()


@pytest.fixture
def jwks(signing_key: rsa.RSAPrivateKey) -> Iterator[JwksServer]:
    with JwksServer([(signing_key, KID)]) as server:
        yield server


@pytest.fixture
def tokens(signing_key: rsa.RSAPrivateKey) -> TokenFactory:
    return TokenFactory(signing_key, KID, AUDIENCE, ISSUER_TEMPLATE)


@pytest.fixture
def validator(jwks: JwksServer) -> TokenValidator:
    return TokenValidator(jwks.url, AUDIENCE, ISSUER_TEMPLATE)


def bearer(token: str) -> str:
    return f"Bearer {token}"


def test_a_valid_token_yields_its_principal(
    validator: TokenValidator, tokens: TokenFactory, tenant_id: str, now: datetime
) -> None:
    oid = str(uuid.uuid4())
    token = tokens.mint(tenant_id, roles=[CONSENT_MANAGE], oid=oid, now=now, azp="client-app")

    principal = validator.validate(bearer(token), tenant_id, now)

    assert principal.tenant_id == tenant_id
    assert principal.object_id == oid
    assert principal.roles == frozenset({CONSENT_MANAGE})
    assert principal.app_id == "client-app"
    assert principal.subject is not None


def test_keys_are_fetched_once_and_then_served_from_the_cache(
    validator: TokenValidator, tokens: TokenFactory, jwks: JwksServer, tenant_id: str, now: datetime
) -> None:
    for _ in range(3):
        validator.validate(bearer(tokens.mint(tenant_id, now=now)), tenant_id, now)
    assert jwks.request_count == 1


def test_validity_is_judged_at_the_given_now_not_the_wall_clock(
    validator: TokenValidator, tokens: TokenFactory, tenant_id: str
) -> None:
    long_ago = datetime(2001, 1, 1, tzinfo=UTC)
    token = tokens.mint(tenant_id, now=long_ago)
    assert validator.validate(bearer(token), tenant_id, long_ago).tenant_id == tenant_id


def test_a_missing_authorization_header_is_rejected(
    validator: TokenValidator, tenant_id: str, now: datetime
) -> None:
    with pytest.raises(Unauthenticated, match="no Authorization"):
        validator.validate(None, tenant_id, now)


def test_a_scheme_other_than_bearer_is_rejected(
    validator: TokenValidator, tokens: TokenFactory, tenant_id: str, now: datetime
) -> None:
    with pytest.raises(Unauthenticated, match="not Bearer"):
        validator.validate(f"Basic {tokens.mint(tenant_id, now=now)}", tenant_id, now)


def test_an_expired_token_is_rejected(
    validator: TokenValidator, tokens: TokenFactory, tenant_id: str, now: datetime
) -> None:
    token = tokens.mint_expired(tenant_id, now, ago=timedelta(minutes=5, seconds=1))
    with pytest.raises(Unauthenticated, match="expired"):
        validator.validate(bearer(token), tenant_id, now)


def test_a_token_expired_within_the_five_minutes_of_skew_is_accepted(
    validator: TokenValidator, tokens: TokenFactory, tenant_id: str, now: datetime
) -> None:
    token = tokens.mint_expired(tenant_id, now, ago=timedelta(minutes=4, seconds=59))
    assert validator.validate(bearer(token), tenant_id, now).tenant_id == tenant_id


def test_a_token_not_yet_valid_is_rejected(
    validator: TokenValidator, tokens: TokenFactory, tenant_id: str, now: datetime
) -> None:
    token = tokens.mint_not_yet_valid(tenant_id, now, ahead=timedelta(minutes=5, seconds=1))
    with pytest.raises(Unauthenticated, match="not valid yet"):
        validator.validate(bearer(token), tenant_id, now)


def test_a_token_signed_by_another_key_under_a_known_kid_is_rejected(
    validator: TokenValidator,
    tokens: TokenFactory,
    other_key: rsa.RSAPrivateKey,
    tenant_id: str,
    now: datetime,
) -> None:
    token = tokens.with_key(other_key).mint(tenant_id, now=now)
    with pytest.raises(Unauthenticated, match="Signature verification failed"):
        validator.validate(bearer(token), tenant_id, now)


def test_an_unknown_kid_refreshes_the_keys_once_and_is_then_rejected(
    validator: TokenValidator, tokens: TokenFactory, jwks: JwksServer, tenant_id: str, now: datetime
) -> None:
    validator.validate(bearer(tokens.mint(tenant_id, now=now)), tenant_id, now)
    assert jwks.request_count == 1

    for attempt in range(5):
        forged = tokens.with_kid(f"made-up-{attempt}").mint(tenant_id, now=now)
        with pytest.raises(Unauthenticated, match="no signing key"):
            validator.validate(bearer(forged), tenant_id, now + timedelta(seconds=attempt))

    assert jwks.request_count == 2


def test_unknown_kids_may_refresh_again_once_the_interval_has_passed(
    validator: TokenValidator, tokens: TokenFactory, jwks: JwksServer, tenant_id: str, now: datetime
) -> None:
    forged = tokens.with_kid("made-up").mint(tenant_id, now=now)
    validator.validate(bearer(tokens.mint(tenant_id, now=now)), tenant_id, now)
    with pytest.raises(Unauthenticated):
        validator.validate(bearer(forged), tenant_id, now)
    with pytest.raises(Unauthenticated):
        validator.validate(bearer(forged), tenant_id, now + timedelta(minutes=1))
    assert jwks.request_count == 3


def test_a_rotated_key_is_picked_up_by_the_single_refresh(
    tokens: TokenFactory,
    jwks: JwksServer,
    other_key: rsa.RSAPrivateKey,
    tenant_id: str,
    now: datetime,
) -> None:
    validator = TokenValidator(jwks.url, AUDIENCE, ISSUER_TEMPLATE)
    validator.validate(bearer(tokens.mint(tenant_id, now=now)), tenant_id, now)
    jwks.add_key(other_key, "key-2026-b")

    rotated = TokenFactory(other_key, "key-2026-b").mint(tenant_id, now=now)

    assert validator.validate(bearer(rotated), tenant_id, now).tenant_id == tenant_id
    assert jwks.request_count == 2


def test_an_unsigned_alg_none_token_is_rejected_without_fetching_keys(
    validator: TokenValidator, tokens: TokenFactory, jwks: JwksServer, tenant_id: str, now: datetime
) -> None:
    with pytest.raises(Unauthenticated, match="algorithm"):
        validator.validate(bearer(tokens.mint_alg_none(tenant_id, now=now)), tenant_id, now)
    assert jwks.request_count == 0


def test_an_hs256_token_signed_with_the_public_key_is_rejected(
    validator: TokenValidator, tokens: TokenFactory, tenant_id: str, now: datetime
) -> None:
    with pytest.raises(Unauthenticated, match="algorithm"):
        validator.validate(bearer(tokens.mint_hs256_with_public_key(tenant_id, now=now)), tenant_id, now)


def test_a_token_for_another_audience_is_rejected(
    validator: TokenValidator, tokens: TokenFactory, tenant_id: str, now: datetime
) -> None:
    token = tokens.mint(tenant_id, now=now, aud="api://some-other-app")
    with pytest.raises(Unauthenticated, match="Audience"):
        validator.validate(bearer(token), tenant_id, now)


def test_a_token_from_another_issuer_is_rejected(
    validator: TokenValidator, tokens: TokenFactory, tenant_id: str, now: datetime
) -> None:
    token = tokens.mint(tenant_id, now=now, iss=f"https://sts.windows.net/{tenant_id}/")
    with pytest.raises(Unauthenticated, match="iss"):
        validator.validate(bearer(token), tenant_id, now)


def test_a_token_whose_issuer_names_another_tenant_than_its_tid_is_rejected(
    validator: TokenValidator, tokens: TokenFactory, tenant_id: str, now: datetime
) -> None:
    token = tokens.mint(tenant_id, now=now, iss=ISSUER_TEMPLATE.replace("{tenantId}", str(uuid.uuid4())))
    with pytest.raises(Unauthenticated, match="iss"):
        validator.validate(bearer(token), tenant_id, now)


def test_a_tid_that_is_not_a_guid_is_rejected(
    validator: TokenValidator, tokens: TokenFactory, now: datetime
) -> None:
    # The issuer is filled in from the same tid, so only the GUID rule can reject it.
    token = tokens.mint("contoso.onmicrosoft.com", now=now)
    with pytest.raises(Unauthenticated, match="GUID"):
        validator.validate(bearer(token), "contoso.onmicrosoft.com", now)


def test_a_token_of_another_tenant_still_authenticates_for_authorisation_to_refuse(
    validator: TokenValidator, tokens: TokenFactory, tenant_id: str, now: datetime
) -> None:
    elsewhere = str(uuid.uuid4())
    principal = validator.validate(bearer(tokens.mint(elsewhere, now=now)), tenant_id, now)
    assert principal.tenant_id == elsewhere


def test_an_unreachable_jwks_is_an_authentication_failure_and_is_logged(
    tokens: TokenFactory,
    jwks: JwksServer,
    tenant_id: str,
    now: datetime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    validator = TokenValidator(jwks.url, AUDIENCE, ISSUER_TEMPLATE)
    jwks.fail_with(503)
    with caplog.at_level(logging.WARNING, logger="functions.adapters.tokens"), pytest.raises(Unauthenticated):
        validator.validate(bearer(tokens.mint(tenant_id, now=now)), tenant_id, now)
    assert "JWKS fetch" in caplog.text
    assert "503" in caplog.text


def test_keys_are_fetched_again_once_the_jwks_recovers(
    validator: TokenValidator, tokens: TokenFactory, jwks: JwksServer, tenant_id: str, now: datetime
) -> None:
    jwks.fail_with(503)
    with pytest.raises(Unauthenticated):
        validator.validate(bearer(tokens.mint(tenant_id, now=now)), tenant_id, now)
    jwks.fail_with(None)
    later = now + timedelta(seconds=30)
    assert (
        validator.validate(bearer(tokens.mint(tenant_id, now=later)), tenant_id, later).tenant_id == tenant_id
    )


def test_a_jwks_url_that_is_neither_https_nor_loopback_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="AUTH_JWKS_URL"):
        TokenValidator("http://login.example.com/keys", AUDIENCE, ISSUER_TEMPLATE)
