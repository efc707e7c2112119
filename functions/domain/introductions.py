"""Get introduced: the email draft a requester sends a colleague to ask for an introduction to a contact.

The admin-configurable template has a subject and a body with placeholders in braces:

    {colleagueName} {colleagueAddress} {contactAddress} {requesterName} {requesterAddress}

`{{` and `}}` write literal braces. Any other name in braces, or a lone brace, is a `ValidationFailed`
(fields `subject` / `body`), raised when the template is built, so a bad template is refused when an admin
saves it rather than when someone asks for an introduction. Substitution is plain text replacement, never
`str.format` (whose attribute and index syntax would let a template read object internals). The draft goes
to the colleague: the requester asks the colleague, who knows the contact, for the introduction.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from functions.domain.contacts import normalise_address
from functions.domain.errors import FieldError, ValidationFailed

PLACEHOLDERS = frozenset(
    ("colleagueName", "colleagueAddress", "contactAddress", "requesterName", "requesterAddress")
)
MAX_SUBJECT = 255
MAX_BODY = 10_000

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


@dataclass(frozen=True, slots=True)
class IntroductionRequest:
    """A recorded request to be introduced: object IDs and the contact's hash, never the address."""

    tenant_id: str
    requester_id: str  # the caller's object ID ("" for an app-only token)
    colleague_user_id: str
    contact: str  # the contact's hash
    requested_at: datetime
    id: str = ""  # assigned by the store


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    address: str


@dataclass(frozen=True, slots=True)
class IntroductionTemplate:
    subject: str
    body: str

    def __post_init__(self) -> None:
        errors = []
        if "\n" in self.subject or "\r" in self.subject:
            errors.append(FieldError("subject", "the subject is one line"))
        for field, text, limit in (("subject", self.subject, MAX_SUBJECT), ("body", self.body, MAX_BODY)):
            if not text.strip():
                errors.append(FieldError(field, "must not be empty"))
            elif len(text) > limit:
                errors.append(FieldError(field, f"at most {limit} characters"))
            errors.extend(FieldError(field, problem) for problem in _placeholder_problems(text))
        if errors:
            raise ValidationFailed("the introduction template is invalid", errors)


@dataclass(frozen=True, slots=True)
class Draft:
    to: str
    subject: str
    body: str


def introduction_draft(
    template: IntroductionTemplate, contact_address: str, colleague: Person, requester: Person
) -> Draft:
    """The ready email draft; `contact_address` is validated (ValidationFailed, field `contact`)."""
    values = {
        "colleagueName": colleague.name,
        "colleagueAddress": colleague.address,
        "contactAddress": normalise_address(contact_address),
        "requesterName": requester.name,
        "requesterAddress": requester.address,
    }
    # A display name with a line break must not split the subject line.
    one_line = {name: " ".join(value.split()) for name, value in values.items()}
    return Draft(
        to=colleague.address,
        subject=render(template.subject, one_line),
        body=render(template.body, values),
    )


def render(text: str, values: Mapping[str, str]) -> str:
    """`text` with each placeholder replaced; the text must have passed `_placeholder_problems`."""

    def substitute(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        return values[match.group(1)]

    return _TOKEN.sub(substitute, text)


def _placeholder_problems(text: str) -> list[str]:
    problems = []
    for match in _TOKEN.finditer(text):
        name = match.group(1)
        if match.group(0) in ("{{", "}}"):
            continue
        if name is None:
            problems.append(f"unbalanced brace at position {match.start()}; write {{{{ or }}}} for a brace")
        elif name not in PLACEHOLDERS:
            known = ", ".join("{" + placeholder + "}" for placeholder in sorted(PLACEHOLDERS))
            problems.append(f"unknown placeholder {{{name}}}; known: {known}")
    return problems


# Built last: constructing a template validates it with the functions above.
DEFAULT_TEMPLATE = IntroductionTemplate(
    subject="Could you introduce me to {contactAddress}?",
    body=(
        "Hi {colleagueName},\n\n"
        "I would like to get in touch with {contactAddress}, and I understand you know them well. "
        "Would you be willing to introduce me? A short email copying us both would be perfect.\n\n"
        "Thank you,\n"
        "{requesterName}\n"
        "{requesterAddress}\n"
    ),
)
