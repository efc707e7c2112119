"""The webhook payload contract is declared once (`EVENT_DATA`): the parser and the published JSON Schema,
both derived from it, accept and refuse the same `data`."""

from __future__ import annotations

import copy
import dataclasses
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from functions.domain.errors import ValidationFailed
from functions.domain.events import EVENT_DATA, EVENT_TYPES, MAX_GROUP_IDS, DataField, EventType, parse_event
from functions.entrypoints.openapi import document
from functions.entrypoints.webhooks import data_schema
from tests.support import admin_center as ac

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
TENANT = str(uuid.uuid4())
GUID = str(uuid.uuid4())
# RFC 3339 section 5.6 `date-time`, written out here so the schema side does not borrow the parser's reading.
RFC3339_DATE_TIME = re.compile(
    r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?"
    r"([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)"
)
FORMATS = FormatChecker()
FORMATS.checks("date-time")(
    lambda value: not isinstance(value, str) or bool(RFC3339_DATE_TIME.fullmatch(value))
)
SCHEMA = Draft202012Validator(
    {"$ref": "#/components/schemas/AdminCenterEvent", "components": document()["components"]},
    format_checker=FORMATS,
)
CASES = [(t, spec) for t in EVENT_TYPES for spec in EVENT_DATA[t].fields]


def case_id(case: Any) -> str:
    return f"{case[0]}:{case[1].name}" if isinstance(case, tuple) else str(case)


# A value of each kind that both sides accept, and one that both refuse.
def good(spec: DataField) -> Any:
    earlier = NOW - timedelta(days=400)
    return {
        "guid": TENANT if spec.name == "tenantId" else GUID,
        "actor": dict(ac.ADMIN),
        "guid-list": [GUID],
        "bool": True,
        "feature": "who_knows_whom",
        "time": ac.rfc3339(earlier + timedelta(days=365) if spec.after else earlier),
    }[spec.kind]


def bad(spec: DataField) -> Any:
    return {
        "guid": "contoso",
        "actor": ac.ADMIN["upn"],
        "guid-list": GUID,
        "bool": "true",
        "feature": "insights",
        "time": "27/11/2026 09:00",
    }[spec.kind]


def event(event_type: EventType, *, everything: bool = True, **data: Any) -> dict[str, Any]:
    """A well-formed event: every field of its type's contract (or only the required ones), then `data`."""
    fields = {s.name: good(s) for s in EVENT_DATA[event_type].fields if everything or s.required}
    return ac.cloud_event(event_type, fields | data, at=NOW)


def schema_accepts(document: dict[str, Any]) -> bool:
    return not list(SCHEMA.iter_errors(document))


def refused_fields(document: dict[str, Any]) -> set[str]:
    try:
        parse_event(copy.deepcopy(document), NOW)
    except ValidationFailed as refusal:
        return {e.field for e in refusal.errors}
    return set()


# --- what both accept ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", EVENT_TYPES)
@pytest.mark.parametrize("everything", [True, False], ids=["every-field", "required-only"])
def test_an_event_the_schema_accepts_is_accepted_by_the_parser(
    event_type: EventType, everything: bool
) -> None:
    document = event(event_type, everything=everything)
    assert schema_accepts(document)
    assert refused_fields(document) == set()


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_field_of_the_contract_reaches_the_payload(event_type: EventType) -> None:
    payload = parse_event(event(event_type), NOW).data
    contract = EVENT_DATA[event_type]
    assert {f.name for f in dataclasses.fields(payload)} == {s.attribute for s in contract.fields}
    assert type(payload) is contract.payload


# --- what both refuse, with the field named -----------------------------------------------------------------


@pytest.mark.parametrize("case", [c for c in CASES if c[1].required], ids=case_id)
def test_an_event_without_a_required_field_is_refused_by_both(case: tuple[EventType, DataField]) -> None:
    event_type, spec = case
    document = event(event_type)
    del document["data"][spec.name]
    assert not schema_accepts(document)
    assert refused_fields(document) == {f"data.{spec.name}"}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_a_field_of_the_wrong_kind_is_refused_by_both(case: tuple[EventType, DataField]) -> None:
    event_type, spec = case
    document = event(event_type, **{spec.name: bad(spec)})
    assert not schema_accepts(document)
    assert refused_fields(document) == {f"data.{spec.name}"}


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_a_field_outside_the_contract_is_refused_by_both(event_type: EventType) -> None:
    document = event(event_type, reason="asked nicely")
    assert not schema_accepts(document)
    assert refused_fields(document) == {"data.reason"}


HAND_MADE = {
    "a blank actor upn": (
        event("consent.revoked", actor={"id": ac.ADMIN["id"], "upn": "   "}),
        {"data.actor.upn"},
    ),
    "an actor upn over 256 characters": (
        event("consent.revoked", actor={"id": ac.ADMIN["id"], "upn": "a" * 257}),
        {"data.actor.upn"},
    ),
    "an actor with a field of its own": (
        event("consent.granted", actor=ac.ADMIN | {"name": "Admin"}),
        {"data.actor.name"},
    ),
    "an actor id that is not a GUID": (
        event("optout.groups.replaced", actor={"id": "admin", "upn": ac.ADMIN["upn"]}),
        {"data.actor.id"},
    ),
    "a group id that is not a GUID": (
        event("optout.groups.replaced", groupIds=[GUID, "sales-team"]),
        {"data.groupIds[1]"},
    ),
    "too many group ids": (
        event("consent.granted", optedOutGroupIds=[str(uuid.uuid4()) for _ in range(MAX_GROUP_IDS + 1)]),
        {"data.optedOutGroupIds"},
    ),
    "a grant time without a zone": (
        event("legacy.consent.imported", grantedAt="2024-01-01T00:00:00"),
        {"data.grantedAt"},
    ),
    "an opt-out flag of 1": (event("optout.user.changed", optedOut=1), {"data.optedOut"}),
    "a null tenant": (event("consent.revoked", tenantId=None), {"data.tenantId"}),
}


@pytest.mark.parametrize("name", HAND_MADE)
def test_a_hand_made_invalid_event_is_refused_by_both(name: str) -> None:
    document, fields = HAND_MADE[name]
    assert not schema_accepts(document)
    assert refused_fields(document) == fields


def test_an_expiry_before_the_grant_is_the_one_rule_only_the_parser_can_check() -> None:
    granted = NOW - timedelta(days=10)
    document = event(
        "legacy.consent.imported",
        grantedAt=ac.rfc3339(granted),
        expiresAt=ac.rfc3339(granted - timedelta(days=1)),
    )
    assert schema_accepts(document)
    assert refused_fields(document) == {"data.expiresAt"}
    expires_at = data_schema("legacy.consent.imported")["properties"]["expiresAt"]
    assert expires_at["description"] == "must be after grantedAt"
