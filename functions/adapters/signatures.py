"""Standard Webhooks signatures for the admin-center webhook (SPEC section 3, "Admin-center webhook").

The sender signs `"{webhook-id}.{webhook-timestamp}.{body}"` with HMAC-SHA256 under a shared secret
(`whsec_<base64>`) and sends `webhook-signature: v1,<base64>` (several space-separated entries allowed, so
a sender can sign with old and new secret while rotating). We accept the message when any `v1` entry matches
any of our secrets and the timestamp is within the tolerance of `now` (replay protection: an old message
cannot be re-sent later, and the `webhook-id` makes a re-delivery idempotent downstream).

Every failure is `Unauthenticated` with the reason in the message for the logs; the HTTP layer answers 401
without detail. The stdlib is enough here; the `standardwebhooks` package adds nothing we need.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from functions.domain.errors import ConfigurationError, Unauthenticated

SECRET_PREFIX = "whsec_"  # noqa: S105  (the format marker of a secret, not a secret)
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE = timedelta(minutes=5)

# The id is signed and then used as a storage key for idempotency: keep it printable, short and free of
# whitespace. (Table-key escaping of characters such as "/" or "#" is the receipt store's concern.)
_MESSAGE_ID = re.compile(r"[\x21-\x7e]{1,256}")
# Unix seconds; twelve digits reach the year 33658, so anything longer is garbage, not a time.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def decode_secret(secret: str) -> bytes:
    """The key bytes of a `whsec_<base64>` secret; a malformed secret is a configuration error."""
    if not secret.startswith(SECRET_PREFIX):
        raise ConfigurationError(f"a webhook secret must start with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError("a webhook secret is not valid base64 after 'whsec_'") from None
    if len(key) < 16:
        # A short key makes HMAC guessable; Standard Webhooks recommends 24 to 64 bytes.
        raise ConfigurationError("a webhook secret must hold at least 16 bytes of key material")
    return key


def _mac(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `v1,<base64>` signature of a message, as a sender (or a test, or the demo) produces it."""
    digest = _mac(decode_secret(secret), msg_id, timestamp, body)
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


class WebhookVerifier:
    """Checks the Standard Webhooks headers of a request against one or more secrets."""

    def __init__(self, secrets: Sequence[str], tolerance: timedelta = DEFAULT_TOLERANCE) -> None:
        if isinstance(secrets, str):
            # A bare string is a sequence of characters: catch the mistake instead of failing every request.
            raise ConfigurationError("webhook secrets must be a sequence of 'whsec_' strings, not one string")
        if not secrets:
            raise ConfigurationError("ADMIN_CENTER_WEBHOOK_SECRET is not set")
        if tolerance <= timedelta(0):
            raise ConfigurationError("the webhook timestamp tolerance must be positive")
        self._keys = tuple(decode_secret(secret) for secret in secrets)
        self._tolerance = tolerance

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> str:
        """Return the `webhook-id` of a genuine, fresh message; raise `Unauthenticated` otherwise."""
        lowered = {name.lower(): value for name, value in headers.items()}
        msg_id = _required(lowered, "webhook-id")
        raw_timestamp = _required(lowered, "webhook-timestamp")
        raw_signatures = _required(lowered, "webhook-signature")

        if not _MESSAGE_ID.fullmatch(msg_id):
            raise Unauthenticated("webhook-id is malformed")
        if not _TIMESTAMP.fullmatch(raw_timestamp):
            raise Unauthenticated("webhook-timestamp is not Unix seconds")
        timestamp = int(raw_timestamp)
        age = now.timestamp() - timestamp
        if age > self._tolerance.total_seconds():
            raise Unauthenticated(f"webhook-timestamp is {age:.0f} s old, beyond the tolerance")
        if -age > self._tolerance.total_seconds():
            raise Unauthenticated(f"webhook-timestamp is {-age:.0f} s in the future, beyond the tolerance")

        candidates = _v1_signatures(raw_signatures)
        if not candidates:
            raise Unauthenticated("webhook-signature holds no well-formed v1 signature")
        expected = [_mac(key, msg_id, timestamp, body) for key in self._keys]
        # Compare every pair without stopping early so timing does not reveal which entry or secret matched.
        matched = False
        for candidate in candidates:
            for digest in expected:
                matched |= hmac.compare_digest(candidate, digest)
        if not matched:
            raise Unauthenticated("no webhook-signature entry matches a configured secret")
        return msg_id


def _required(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name, "").strip()
    if not value:
        raise Unauthenticated(f"{name} header is missing")
    return value


def _v1_signatures(header: str) -> list[bytes]:
    """The decoded `v1` entries of a signature header; other versions and undecodable entries are skipped."""
    found: list[bytes] = []
    for entry in header.split():
        version, sep, encoded = entry.partition(",")
        if not sep or version != SIGNATURE_VERSION:
            continue
        try:
            decoded = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        # Only the canonical encoding counts, so no altered spelling of a valid signature is accepted.
        if base64.b64encode(decoded).decode("ascii") == encoded:
            found.append(decoded)
    return found
