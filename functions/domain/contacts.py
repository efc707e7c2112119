"""External contact addresses: validation for the insight APIs, and the keyed hash that is all we store.

An external address is never stored in clear. Everything keyed by a contact uses

    contact_hash = hex(HMAC-SHA256(key=CONTACT_HASH_KEY, msg=f"{tenant_id}:{address.strip().lower()}"))

(the formula CONTRIBUTING.md states). The tenant ID is part of the message so the same person gets unrelated
hashes in two tenants, and the deployment secret makes a dictionary attack on the hashes useless without it.
The insight routes hash the address they are given with the same function, so ingestion and reads meet.
"""

from __future__ import annotations

import hmac
import re

from functions.domain.errors import FieldError, ValidationFailed

# RFC 5321 limits; the character set is the practical subset mail systems (and Entra) accept, not the
# full RFC 5322 grammar (quoted local parts, comments) that no business address uses.
_MAX_ADDRESS = 254
_MAX_LOCAL = 64
_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def contact_hash(key: bytes, tenant_id: str, address: str) -> str:
    """The stored identity of an external contact of `tenant_id` (lower-case hex, 64 characters)."""
    message = f"{tenant_id}:{address.strip().lower()}".encode()
    return hmac.digest(key, message, "sha256").hex()


class ContactHasher:
    """`contact_hash` for one tenant with a small memo, so a batch hashes each distinct address once.

    A mailbox window names a few hundred distinct external addresses across thousands of messages, so the
    memo turns most HMACs into a dictionary hit. It is cleared when full to keep memory flat on huge
    batches; create one per batch (it holds the key, so it should not outlive the work it serves).
    """

    __slots__ = ("_accounts", "_cache", "_key", "_limit", "_tenant_id")

    def __init__(self, key: bytes, tenant_id: str, limit: int = 50_000) -> None:
        self._key = key
        self._tenant_id = tenant_id
        self._limit = limit
        self._cache: dict[str, tuple[str, str]] = {}  # address -> (contact hash, account hash)
        self._accounts: dict[str, str] = {}  # contact hash -> account hash, since `take_accounts`

    def __call__(self, address: str) -> str:
        cached = self._cache.get(address)
        if cached is None:
            if len(self._cache) >= self._limit:
                self._cache.clear()
            cached = (
                contact_hash(self._key, self._tenant_id, address),
                account_hash(self._key, self._tenant_id, domain_of(address)),
            )
            self._cache[address] = cached
        digest, account = cached
        # Noted on every call, hit or miss, so a cleared memo never loses the account of a contact hashed
        # since the last `take_accounts`.
        self._accounts[digest] = account
        return digest

    def take_accounts(self) -> dict[str, str]:
        """Contact hash -> account hash of every contact hashed since the last call (then forgotten: the
        caller takes them with the interactions it writes, so memory stays bounded by one batch)."""
        taken, self._accounts = self._accounts, {}
        return taken


def normalise_address(text: str) -> str:
    """The lower-cased address an insight request names, or `ValidationFailed` (field `contact`).

    Accepts `local@domain` with a dotted domain of valid DNS labels; rejects display-name forms
    ("Ann <ann@x.com>"), whitespace inside, empty parts and over-long input.
    """
    address = text.strip().lower()
    problem = _address_problem(address)
    if problem is not None:
        raise ValidationFailed("the contact is not a valid email address", [FieldError("contact", problem)])
    return address


def account_hash(key: bytes, tenant_id: str, domain: str) -> str:
    """An account is keyed like an address: the domain as `@domain` (no address starts with `@`, so no
    account hash is ever a contact hash)."""
    return contact_hash(key, tenant_id, "@" + domain.strip().lower())


def domain_of(address: str) -> str:
    """The domain part of an address, as accounts are keyed: lower-cased, without a trailing root dot
    ("Ann@Fabrikam.COM." -> "fabrikam.com"); "" when there is none. Subdomains are kept: sales.fabrikam.com
    is an account of its own, as verified domains are (functions/domain/interactions.py)."""
    _, at, domain = address.strip().lower().rpartition("@")
    return domain.rstrip(".") if at else ""


def normalise_domain(text: str) -> str:
    """The lower-cased domain an account request names, or `ValidationFailed` (field `domain`)."""
    domain = text.strip().lower().rstrip(".")
    problem = _domain_problem(domain)
    if problem is not None:
        raise ValidationFailed("the domain is not a valid email domain", [FieldError("domain", problem)])
    return domain


def _domain_problem(domain: str) -> str | None:
    if not domain:
        return "a domain is required"
    if len(domain) > _MAX_ADDRESS:
        return f"a domain has at most {_MAX_ADDRESS} characters"
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        return "not a valid domain name (labels of letters, digits and hyphens, separated by dots)"
    return None


def _address_problem(address: str) -> str | None:
    if not address:
        return "an email address is required"
    if len(address) > _MAX_ADDRESS:
        return f"an email address has at most {_MAX_ADDRESS} characters"
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return "an email address has the form name@domain"
    if len(local) > _MAX_LOCAL or not _LOCAL.match(local):
        return "the part before @ is not a valid mailbox name"
    if _domain_problem(domain) is not None:
        return "the part after @ is not a valid domain name"
    return None
