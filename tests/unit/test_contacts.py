"""Contact hashing, address and domain validation (functions/domain/contacts.py)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from functions.domain.contacts import (
    ContactHasher,
    contact_hash,
    domain_of,
    normalise_address,
    normalise_domain,
)
from functions.domain.errors import ValidationFailed

KEY = b"deployment-secret"
TENANT = "7d4f5c3e-0b8a-4a61-9a55-2f1de3c0a9b1"


def test_contact_hash_is_the_documented_hmac_of_tenant_and_lower_cased_address() -> None:
    expected = hmac.new(KEY, f"{TENANT}:ann@fabrikam.com".encode(), hashlib.sha256).hexdigest()

    assert contact_hash(KEY, TENANT, "ann@fabrikam.com") == expected


def test_contact_hash_ignores_case_and_surrounding_whitespace() -> None:
    assert contact_hash(KEY, TENANT, "  Ann@Fabrikam.COM ") == contact_hash(KEY, TENANT, "ann@fabrikam.com")


def test_the_same_address_hashes_differently_in_another_tenant() -> None:
    other = "0c7b2f9e-1111-4222-8333-944455556666"

    assert contact_hash(KEY, TENANT, "ann@fabrikam.com") != contact_hash(KEY, other, "ann@fabrikam.com")


def test_the_same_address_hashes_differently_with_another_key() -> None:
    assert contact_hash(KEY, TENANT, "ann@fabrikam.com") != contact_hash(b"other", TENANT, "ann@fabrikam.com")


def test_hasher_gives_the_same_hash_as_the_function() -> None:
    hasher = ContactHasher(KEY, TENANT)

    assert hasher("ann@fabrikam.com") == contact_hash(KEY, TENANT, "ann@fabrikam.com")
    assert hasher("ann@fabrikam.com") == contact_hash(KEY, TENANT, "ann@fabrikam.com")


def test_hasher_stays_correct_when_its_memo_overflows() -> None:
    hasher = ContactHasher(KEY, TENANT, limit=2)
    addresses = [f"person{n}@fabrikam.com" for n in range(5)] * 2

    assert [hasher(address) for address in addresses] == [
        contact_hash(KEY, TENANT, address) for address in addresses
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ann@fabrikam.com", "ann@fabrikam.com"),
        ("  Ann.Lee+sales@Mail.Fabrikam.co.uk ", "ann.lee+sales@mail.fabrikam.co.uk"),
        ("o'brien@fabrikam.com", "o'brien@fabrikam.com"),
    ],
)
def test_a_valid_address_is_trimmed_and_lower_cased(text: str, expected: str) -> None:
    assert normalise_address(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "ann",
        "ann@",
        "@fabrikam.com",
        "ann@fabrikam",
        "ann@@fabrikam.com",
        "ann lee@fabrikam.com",
        "Ann <ann@fabrikam.com>",
        "ann..lee@fabrikam.com",
        ".ann@fabrikam.com",
        "ann@-fabrikam.com",
        "ann@fabrikam..com",
        "ann@127.0.0.1",
        "a" * 65 + "@fabrikam.com",
        "ann@" + "a" * 250 + ".com",
    ],
)
def test_a_malformed_address_is_refused_with_a_contact_field_error(text: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        normalise_address(text)

    assert [error.field for error in refused.value.errors] == ["contact"]


@pytest.mark.parametrize(
    ("address", "domain"),
    [
        ("ann@fabrikam.com", "fabrikam.com"),
        ("  Ann@Fabrikam.COM ", "fabrikam.com"),
        ("ann@fabrikam.com.", "fabrikam.com"),  # the DNS root dot names the same domain
        ("ann@sales.fabrikam.com", "sales.fabrikam.com"),  # a subdomain is an account of its own
        ('"a@b"@fabrikam.com', "fabrikam.com"),  # the last @ separates the domain
        ("no-domain", ""),
    ],
)
def test_the_domain_of_an_address_is_its_lower_cased_part_after_the_last_at(
    address: str, domain: str
) -> None:
    assert domain_of(address) == domain


@pytest.mark.parametrize(
    ("text", "expected"), [(" Fabrikam.COM ", "fabrikam.com"), ("fabrikam.com.", "fabrikam.com")]
)
def test_a_valid_domain_is_trimmed_and_lower_cased(text: str, expected: str) -> None:
    assert normalise_domain(text) == expected


@pytest.mark.parametrize(
    "text", ["", "fabrikam", "ann@fabrikam.com", "-fabrikam.com", "fabrikam..com", "10.0.0.1"]
)
def test_a_malformed_domain_is_refused_with_a_domain_field_error(text: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        normalise_domain(text)

    assert [error.field for error in refused.value.errors] == ["domain"]
