"""Standard Webhooks verification of the admin-center webhook: what is accepted, and every way it is not."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.adapters.signatures import WebhookVerifier, sign
from functions.domain.errors import ConfigurationError, Unauthenticated
from tests.support.identity import signed_webhook_headers

SECRET = "whsec_" + base64.b64encode(b"first-secret-of-32-bytes-0123456").decode()
NEW_SECRET = "whsec_" + base64.b64encode(b"second-secret-of-32-bytes-abcdef").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"not-our-secret-but-32-bytes-long").decode()
BODY = b'{"specversion":"1.0","type":"consent.granted","id":"evt-1"}'
NOW = datetime.fromisoformat("2026-11-27T09:00:00+00:00")


def verifier(*secrets: str) -> WebhookVerifier:
    return WebhookVerifier(secrets or (SECRET,))


def headers(secret: str = SECRET) -> dict[str, str]:
    return signed_webhook_headers(secret, BODY, msg_id="msg_1", timestamp=NOW)


def test_a_correctly_signed_message_yields_its_webhook_id() -> None:
    assert verifier().verify(headers(), BODY, NOW) == "msg_1"


def test_header_names_are_matched_case_insensitively() -> None:
    shouted = {name.upper(): value for name, value in headers().items()}
    assert verifier().verify(shouted, BODY, NOW) == "msg_1"


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_rejected(missing: str) -> None:
    incomplete = {name: value for name, value in headers().items() if name != missing}
    with pytest.raises(Unauthenticated, match=missing):
        verifier().verify(incomplete, BODY, NOW)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("webhook-signature", "v1"),
        ("webhook-signature", "v1,not base64!"),
        ("webhook-signature", "sha256=abcdef"),
        ("webhook-timestamp", "yesterday"),
        ("webhook-timestamp", "-1"),
        ("webhook-id", "msg with spaces"),
    ],
)
def test_a_malformed_header_is_rejected(name: str, value: str) -> None:
    with pytest.raises(Unauthenticated):
        verifier().verify({**headers(), name: value}, BODY, NOW)


def test_a_signature_made_with_another_secret_is_rejected() -> None:
    with pytest.raises(Unauthenticated, match="no webhook-signature entry matches"):
        verifier().verify(headers(secret=OTHER_SECRET), BODY, NOW)


def test_a_message_older_than_five_minutes_is_rejected() -> None:
    with pytest.raises(Unauthenticated, match="old"):
        verifier().verify(headers(), BODY, NOW + timedelta(minutes=5, seconds=1))


def test_a_message_more_than_five_minutes_ahead_is_rejected() -> None:
    with pytest.raises(Unauthenticated, match="future"):
        verifier().verify(headers(), BODY, NOW - timedelta(minutes=5, seconds=1))


@pytest.mark.parametrize("skew", [timedelta(minutes=5), timedelta(minutes=-5)])
def test_a_message_exactly_at_the_tolerance_is_accepted(skew: timedelta) -> None:
    assert verifier().verify(headers(), BODY, NOW + skew) == "msg_1"


def test_an_altered_body_is_rejected() -> None:
    with pytest.raises(Unauthenticated):
        verifier().verify(headers(), BODY.replace(b"granted", b"revoked"), NOW)


def test_a_replayed_signature_under_another_webhook_id_is_rejected() -> None:
    replayed = {**headers(), "webhook-id": "msg_2"}
    with pytest.raises(Unauthenticated):
        verifier().verify(replayed, BODY, NOW)


def test_one_right_signature_among_several_is_enough() -> None:
    right = headers()["webhook-signature"]
    wrong = headers(secret=OTHER_SECRET)["webhook-signature"]
    several = {**headers(), "webhook-signature": f"v2,abc {wrong} {right}"}
    assert verifier().verify(several, BODY, NOW) == "msg_1"


def test_a_non_canonical_spelling_of_the_right_signature_is_rejected() -> None:
    # The last base64 digit before "=" carries two unused bits; setting one decodes to the same digest.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    signature = headers()["webhook-signature"]
    respelled = signature[:-2] + alphabet[alphabet.index(signature[-2]) + 1] + "="
    assert base64.b64decode(respelled.removeprefix("v1,")) == base64.b64decode(signature.removeprefix("v1,"))
    with pytest.raises(Unauthenticated):
        verifier().verify({**headers(), "webhook-signature": respelled}, BODY, NOW)


def test_signatures_of_other_versions_are_ignored() -> None:
    digest = headers()["webhook-signature"].removeprefix("v1,")
    with pytest.raises(Unauthenticated, match="no well-formed v1"):
        verifier().verify({**headers(), "webhook-signature": f"v1a,{digest}"}, BODY, NOW)


@pytest.mark.parametrize("secret", [SECRET, NEW_SECRET])
def test_during_rotation_both_the_old_and_the_new_secret_are_accepted(secret: str) -> None:
    assert verifier(SECRET, NEW_SECRET).verify(headers(secret=secret), BODY, NOW) == "msg_1"


def test_sign_produces_the_standard_webhooks_reference_signature() -> None:
    # Test vector of the Standard Webhooks specification's reference libraries.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == expected


@pytest.mark.parametrize(
    "secrets",
    [
        ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],  # no whsec_ prefix
        ["whsec_not*base64"],
        ["whsec_c2hvcnQ="],  # "short": too little key material
        [],
    ],
)
def test_a_badly_formatted_secret_is_a_configuration_error(secrets: list[str]) -> None:
    with pytest.raises(ConfigurationError):
        WebhookVerifier(secrets)


def test_a_single_string_instead_of_a_list_of_secrets_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        WebhookVerifier(SECRET)


def _flip(data: bytes, index: int, xor: int) -> bytes:
    position = index % len(data)
    return data[:position] + bytes([data[position] ^ xor]) + data[position + 1 :]


@given(index=st.integers(min_value=0), xor=st.integers(min_value=1, max_value=255))
def test_any_single_byte_change_to_the_body_is_rejected(index: int, xor: int) -> None:
    with pytest.raises(Unauthenticated):
        verifier().verify(headers(), _flip(BODY, index, xor), NOW)


@given(index=st.integers(min_value=0), xor=st.integers(min_value=1, max_value=255))
def test_any_single_byte_change_to_the_signature_header_is_rejected(index: int, xor: int) -> None:
    original = headers()
    altered = _flip(original["webhook-signature"].encode("latin-1"), index, xor).decode("latin-1")
    with pytest.raises(Unauthenticated):
        verifier().verify({**original, "webhook-signature": altered}, BODY, NOW)


@given(index=st.integers(min_value=0), xor=st.integers(min_value=1, max_value=255))
def test_any_single_byte_change_to_the_signature_digest_is_rejected(index: int, xor: int) -> None:
    original = headers()
    digest = base64.b64decode(original["webhook-signature"].removeprefix("v1,"))
    altered = "v1," + base64.b64encode(_flip(digest, index, xor)).decode()
    with pytest.raises(Unauthenticated):
        verifier().verify({**original, "webhook-signature": altered}, BODY, NOW)
