"""Get introduced: the email draft from an admin template (functions/domain/introductions.py)."""

from __future__ import annotations

import pytest

from functions.domain.errors import ValidationFailed
from functions.domain.introductions import (
    DEFAULT_TEMPLATE,
    PLACEHOLDERS,
    IntroductionTemplate,
    Person,
    introduction_draft,
)

COLLEAGUE = Person("Bob Baker", "bob@contoso.com")
REQUESTER = Person("Alice Archer", "alice@contoso.com")


def test_the_default_draft_asks_the_colleague_for_an_introduction_to_the_contact() -> None:
    draft = introduction_draft(DEFAULT_TEMPLATE, "Ann@Fabrikam.com", COLLEAGUE, REQUESTER)

    assert draft.to == "bob@contoso.com"
    assert "ann@fabrikam.com" in draft.subject
    assert draft.body.startswith("Hi Bob Baker,")
    assert "ann@fabrikam.com" in draft.body
    assert draft.body.rstrip().endswith("Alice Archer\nalice@contoso.com")


def test_the_default_template_uses_only_known_placeholders() -> None:
    rendered = introduction_draft(DEFAULT_TEMPLATE, "ann@fabrikam.com", COLLEAGUE, REQUESTER)

    assert "{" not in rendered.subject + rendered.body


def test_every_placeholder_is_filled_in() -> None:
    body = "{colleagueName} <{colleagueAddress}>, {contactAddress}, {requesterName} <{requesterAddress}>"
    template = IntroductionTemplate(subject="Intro to {contactAddress} for {requesterName}", body=body)

    draft = introduction_draft(template, "ann@fabrikam.com", COLLEAGUE, REQUESTER)

    assert draft.subject == "Intro to ann@fabrikam.com for Alice Archer"
    assert draft.body == "Bob Baker <bob@contoso.com>, ann@fabrikam.com, Alice Archer <alice@contoso.com>"


def test_the_documented_placeholders_are_the_known_ones() -> None:
    assert {"colleagueName", "colleagueAddress", "contactAddress", "requesterName", "requesterAddress"} == (
        PLACEHOLDERS
    )


def test_doubled_braces_are_literal_braces() -> None:
    template = IntroductionTemplate(subject="Hello", body="{{colleagueName}} is {colleagueName} }}{{")

    assert introduction_draft(template, "ann@fabrikam.com", COLLEAGUE, REQUESTER).body == (
        "{colleagueName} is Bob Baker }{"
    )


def test_placeholder_text_inside_a_value_is_not_substituted_again() -> None:
    requester = Person("{contactAddress}", "alice@contoso.com")

    draft = introduction_draft(DEFAULT_TEMPLATE, "ann@fabrikam.com", COLLEAGUE, requester)

    assert "{contactAddress}\nalice@contoso.com" in draft.body


def test_a_line_break_in_a_name_does_not_split_the_subject() -> None:
    template = IntroductionTemplate(subject="From {requesterName}", body="{requesterName}")
    requester = Person("Alice\r\nBcc: evil@example.com", "alice@contoso.com")

    draft = introduction_draft(template, "ann@fabrikam.com", COLLEAGUE, requester)

    assert draft.subject == "From Alice Bcc: evil@example.com"
    assert draft.body == "Alice\r\nBcc: evil@example.com"


@pytest.mark.parametrize(
    ("subject", "body", "field"),
    [
        ("Hello", "Dear {colleagueFirstName}", "body"),
        ("Intro to {contact}", "Hello", "subject"),
        ("Hello", "{colleagueName.__class__}", "body"),
        ("Hello", "{colleagueName!r}", "body"),
        ("Hello", "{0}", "body"),
        ("Hello", "{}", "body"),
        ("Hello", "an { alone", "body"),
        ("Hello", "an } alone", "body"),
        ("Hello", "{colleagueName", "body"),
    ],
)
def test_unknown_placeholders_and_lone_braces_are_refused(subject: str, body: str, field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        IntroductionTemplate(subject=subject, body=body)

    assert [error.field for error in refused.value.errors] == [field]


def test_an_unknown_placeholder_is_named_in_the_error() -> None:
    with pytest.raises(ValidationFailed) as refused:
        IntroductionTemplate(subject="Hello", body="Dear {colleagueFirstName}")

    assert "{colleagueFirstName}" in refused.value.errors[0].message


@pytest.mark.parametrize(
    ("subject", "body", "fields"),
    [
        ("", "Hello", ["subject"]),
        ("Hello", "   ", ["body"]),
        ("Two\nlines", "Hello", ["subject"]),
        ("x" * 256, "Hello", ["subject"]),
        ("Hello", "x" * 10_001, ["body"]),
    ],
)
def test_empty_multi_line_or_oversized_templates_are_refused(
    subject: str, body: str, fields: list[str]
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        IntroductionTemplate(subject=subject, body=body)

    assert [error.field for error in refused.value.errors] == fields


def test_a_malformed_contact_address_is_refused_with_a_contact_field_error() -> None:
    with pytest.raises(ValidationFailed) as refused:
        introduction_draft(DEFAULT_TEMPLATE, "not an address", COLLEAGUE, REQUESTER)

    assert [error.field for error in refused.value.errors] == ["contact"]
