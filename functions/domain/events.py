"""Admin-center events: the CloudEvents 1.0 envelope, the five event types, and where a change came from.

`parse_event` turns an already-authenticated JSON object into a typed `CloudEvent`, or raises
`ValidationFailed` listing every offending field (`errors: [{field, message}]`): unknown fields are
errors, GUIDs must be canonical 8-4-4-4-12 GUIDs (kept lower-cased), times RFC 3339 with a zone.
Nothing here does I/O.

`EVENT_DATA` is the contract of each event type's `data`, declared once: the parser reads exactly its
fields, and the webhook's JSON Schema in the OpenAPI document is derived from it
(functions/entrypoints/webhooks.py). A new event type is a payload dataclass and a row there.

`Provenance` is the "who, when, which event" that every change keeps. "Who" is the actor's object ID: the
webhook also sends the admin's UPN, which is checked against the contract and then dropped, so nothing but a
pseudonymous ID of an admin is ever stored (and nothing else of them outlives a purge of them). Its
`event_time` is the ordering key of the out-of-order rule: a change whose event time is older than the last
change applied to the same subject is stale (`is_stale`), and at equal times the exclusion wins. The rule is
there so that the end result never depends on the order of delivery: whatever order events arrive in, the
state and the purges are those of applying them in the order they were made. A stale event changes no state
(one exception: a group replacement whose every removal newer grants overrode keeps its time as the list's
ordering key, so that an older replacement stays stale), but a stale withdrawal or opt-out still asks for the
purge it implies (functions/domain/consent.py, functions/domain/optouts.py): made before a newer change, it
still covered the data collected until then.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, assert_never

from functions.domain import times
from functions.domain.access import is_guid
from functions.domain.errors import FieldError, ValidationFailed
from functions.domain.scope import FEATURES, Feature

EventType = Literal[
    "consent.granted",
    "consent.revoked",
    "optout.groups.replaced",
    "optout.user.changed",
    "legacy.consent.imported",
]
EVENT_TYPES: tuple[EventType, ...] = (
    "consent.granted",
    "consent.revoked",
    "optout.groups.replaced",
    "optout.user.changed",
    "legacy.consent.imported",
)
# Who made a change: the admin center's webhook, our REST API, a timer (legacy expiry), the legacy import
# command, or an ingestion scheduling run (a user found in an opted-out group).
ChangeSource = Literal["webhook", "api", "timer", "import", "ingestion"]
CHANGE_SOURCES: tuple[ChangeSource, ...] = ("webhook", "api", "timer", "import", "ingestion")
# What applying a change did: `applied`; `stale` (older than the subject's last change: no state changes,
# though a withdrawal's or an opt-out's purge is still requested);
# `unchanged` (valid and newest, but the state already said so); `duplicate` (this very event was applied).
Outcome = Literal["applied", "stale", "unchanged", "duplicate"]

# An event time further ahead than this is refused: it would make every later event of its subject stale.
MAX_CLOCK_SKEW = timedelta(minutes=5)
MAX_GROUP_IDS = 1000
MAX_TEXT = 256  # characters of an envelope attribute or an actor's UPN

# Kept under this name for the legacy import rules, which read times through this module.
parse_rfc3339 = times.parse_rfc3339

_EXTENSION_NAME = re.compile(r"[a-z0-9]{1,20}")
_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_ENVELOPE_REQUIRED = ("specversion", "id", "source", "type", "time", "data")
_ENVELOPE_OPTIONAL = ("datacontenttype", "dataschema", "subject")


@dataclass(frozen=True, slots=True)
class Actor:
    """The admin as the event names them. `upn` is validated with the event and read by nothing: a change
    keeps `id` alone (`CloudEvent.provenance`)."""

    id: str
    upn: str


@dataclass(frozen=True, slots=True)
class Provenance:
    """Who made a change (an object ID, never a name or UPN), from which event, the event's own time, and
    when we recorded it."""

    actor_id: str | None
    event_id: str
    event_time: datetime
    source: ChangeSource
    recorded_at: datetime

    @property
    def ordered(self) -> bool:
        """Whether the out-of-order rule applies: to events (webhooks, imports, timers), not to an
        administrator's REST call, which acts now and is never "older" than an event."""
        return self.source != "api"


def is_stale(last_event_time: datetime | None, event_time: datetime, *, yields: bool = False) -> bool:
    """The out-of-order rule: older than the last change applied to the same subject.

    At the same time the later arrival is not stale, unless it `yields`: an inclusion (a grant, an opt-in)
    arriving after an exclusion (a revocation, an opt-out) made in the same instant. So of two changes made at
    once the exclusion wins, whichever arrives first; the order of delivery never decides.
    """
    if last_event_time is None:
        return False
    return event_time < last_event_time or (yields and event_time == last_event_time)


def latest(last_event_time: datetime | None, event_time: datetime) -> datetime:
    """The subject's new ordering key after a change (never moves backwards, whatever applied it)."""
    return event_time if last_event_time is None else max(last_event_time, event_time)


# --- the five event payloads --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConsentGranted:
    tenant_id: str
    actor: Actor
    opted_out_group_ids: frozenset[str]


@dataclass(frozen=True, slots=True)
class ConsentRevoked:
    tenant_id: str
    actor: Actor


@dataclass(frozen=True, slots=True)
class GroupsReplaced:
    tenant_id: str
    actor: Actor
    group_ids: frozenset[str]


@dataclass(frozen=True, slots=True)
class UserOptOutChanged:
    tenant_id: str
    user_id: str
    opted_out: bool


@dataclass(frozen=True, slots=True)
class LegacyConsentImported:
    tenant_id: str
    feature: Feature
    granted_at: datetime
    expires_at: datetime | None  # None: the configured default expiry of the feature
    opted_out_group_ids: frozenset[str]


EventData = ConsentGranted | ConsentRevoked | GroupsReplaced | UserOptOutChanged | LegacyConsentImported

# What a field of `data` holds: a GUID; an actor `{id: GUID, upn: text}`; a list of at most MAX_GROUP_IDS
# GUIDs; true or false; one of FEATURES; an RFC 3339 date-time with a zone.
FieldKind = Literal["guid", "actor", "guid-list", "bool", "feature", "time"]


@dataclass(frozen=True, slots=True)
class DataField:
    name: str  # as sent (camelCase); the payload attribute is its snake_case form
    kind: FieldKind
    required: bool = True
    after: str | None = None  # a time that must be later than the time field of this name, when both are sent

    @property
    def attribute(self) -> str:
        return _CAMEL_HUMP.sub("_", self.name).lower()


@dataclass(frozen=True, slots=True)
class DataContract:
    payload: Callable[..., EventData]
    fields: tuple[DataField, ...]


_TENANT = DataField("tenantId", "guid")
_ACTOR = DataField("actor", "actor")

EVENT_DATA: Mapping[EventType, DataContract] = {
    "consent.granted": DataContract(
        ConsentGranted, (_TENANT, _ACTOR, DataField("optedOutGroupIds", "guid-list", required=False))
    ),
    "consent.revoked": DataContract(ConsentRevoked, (_TENANT, _ACTOR)),
    "optout.groups.replaced": DataContract(
        GroupsReplaced, (_TENANT, _ACTOR, DataField("groupIds", "guid-list"))
    ),
    "optout.user.changed": DataContract(
        UserOptOutChanged, (_TENANT, DataField("userId", "guid"), DataField("optedOut", "bool"))
    ),
    "legacy.consent.imported": DataContract(
        LegacyConsentImported,
        (
            _TENANT,
            DataField("feature", "feature"),
            DataField("grantedAt", "time"),
            # Absent: the configured default expiry of the feature.
            DataField("expiresAt", "time", required=False, after="grantedAt"),
            DataField("optedOutGroupIds", "guid-list", required=False),
        ),
    ),
}


@dataclass(frozen=True, slots=True)
class CloudEvent:
    id: str
    source: str
    type: EventType
    time: datetime
    data: EventData

    @property
    def tenant_id(self) -> str:
        return self.data.tenant_id

    def provenance(self, recorded_at: datetime) -> Provenance:
        actor = getattr(self.data, "actor", None)
        return Provenance(
            actor_id=actor.id if isinstance(actor, Actor) else None,
            event_id=self.id,
            event_time=self.time,
            source="webhook",
            recorded_at=recorded_at,
        )


def parse_event(document: Mapping[str, Any], now: datetime) -> CloudEvent:
    """The typed event of a webhook body; `ValidationFailed` naming every bad field otherwise."""
    fields = FieldReader()
    _check_attributes(document, fields)
    event_id = fields.text(document, "id", "id") if "id" in document else ""
    source = fields.text(document, "source", "source") if "source" in document else ""
    event_type = _event_type(document.get("type"))
    if "type" in document and event_type is None:
        fields.error("type", f"must be one of {', '.join(EVENT_TYPES)}")
    time = fields.instant(document, "time", "time") if "time" in document else None
    if time is not None and time > now + MAX_CLOCK_SKEW:
        fields.error("time", "is in the future")
    data = document.get("data")
    if "data" in document and not isinstance(data, dict):
        fields.error("data", "must be a JSON object")
    payload: EventData | None = None
    if isinstance(data, dict) and event_type is not None:
        payload = _parse_data(event_type, data, fields)
    if fields.errors or payload is None or time is None or event_type is None:
        raise ValidationFailed("the event is not a valid admin-center CloudEvent", fields.errors)
    return CloudEvent(id=event_id, source=source, type=event_type, time=time, data=payload)


def _check_attributes(document: Mapping[str, Any], fields: FieldReader) -> None:
    """Required and optional CloudEvents attributes; extensions allowed, anything else reported."""
    for name in _ENVELOPE_REQUIRED:
        if name not in document:
            fields.error(name, "is required")
    for name, value in document.items():
        if name in _ENVELOPE_REQUIRED or name in _ENVELOPE_OPTIONAL:
            continue
        if name == "data_base64":
            fields.error(name, "is not supported: send the event data as a JSON object in `data`")
        elif not _EXTENSION_NAME.fullmatch(name) or not isinstance(value, str | int | bool):
            fields.error(name, "is not a CloudEvents attribute")
    if "specversion" in document and document["specversion"] != "1.0":
        fields.error("specversion", 'must be "1.0"')
    for name in _ENVELOPE_OPTIONAL:
        if name in document:
            fields.text(document, name, name)
    if document.get("datacontenttype", "application/json") != "application/json":
        fields.error("datacontenttype", 'must be "application/json" when present')


def _event_type(value: Any) -> EventType | None:
    return next((t for t in EVENT_TYPES if t == value), None)


def _parse_data(event_type: EventType, data: Mapping[str, Any], fields: FieldReader) -> EventData | None:
    contract = EVENT_DATA[event_type]
    names = {f.name for f in contract.fields}
    for name in data:
        if name not in names:
            fields.error(f"data.{name}", "is not a field of " + event_type)
    before = len(fields.errors)
    values: dict[str, Any] = {}
    for spec in contract.fields:
        value = values[spec.name] = fields.field(data, spec, f"data.{spec.name}")
        earlier = values.get(spec.after) if spec.after else None
        if value is not None and earlier is not None and value <= earlier:
            fields.error(f"data.{spec.name}", f"must be after {spec.after}")
    if len(fields.errors) != before:
        return None
    return contract.payload(**{spec.attribute: values[spec.name] for spec in contract.fields})


class FieldReader:
    """Collects every field error instead of stopping at the first, so a sender can fix them in one go."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def error(self, field: str, message: str) -> None:
        self.errors.append(FieldError(field, message))

    def field(self, data: Mapping[str, Any], spec: DataField, field: str) -> Any:
        """The value of one field of an event's `data`, read as its kind says (None or empty if optional
        and absent)."""
        if not spec.required and spec.name not in data:
            return frozenset() if spec.kind == "guid-list" else None
        read: Callable[[Mapping[str, Any], str, str], Any]
        match spec.kind:
            case "guid":
                read = self.guid
            case "actor":
                read = self.actor
            case "guid-list":
                read = self.guids
            case "bool":
                read = self.boolean
            case "feature":
                read = self.feature
            case "time":
                read = self.instant
            case _:
                assert_never(spec.kind)
        return read(data, spec.name, field)

    def text(self, data: Mapping[str, Any], name: str, field: str) -> str:
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            self.error(field, "must be a non-empty string")
            return ""
        if len(value) > MAX_TEXT:
            self.error(field, f"must be at most {MAX_TEXT} characters")
        return value

    def guid(self, data: Mapping[str, Any], name: str, field: str) -> str:
        value = data.get(name)
        if name not in data:
            self.error(field, "is required")
        elif not isinstance(value, str) or not is_guid(value):
            self.error(field, "must be a GUID")
        else:
            return value.lower()
        return ""

    def guids(
        self, data: Mapping[str, Any], name: str, field: str, *, required: bool = True
    ) -> frozenset[str]:
        if name not in data:
            if required:
                self.error(field, "is required")
            return frozenset()
        values = data[name]
        if not isinstance(values, list):
            self.error(field, "must be a list of GUIDs")
            return frozenset()
        if len(values) > MAX_GROUP_IDS:
            self.error(field, f"must hold at most {MAX_GROUP_IDS} GUIDs")
        for index, value in enumerate(values):
            if not isinstance(value, str) or not is_guid(value):
                self.error(f"{field}[{index}]", "must be a GUID")
        return frozenset(v.lower() for v in values if isinstance(v, str) and is_guid(v))

    def boolean(self, data: Mapping[str, Any], name: str, field: str) -> bool:
        value = data.get(name)
        if not isinstance(value, bool):
            self.error(field, "is required" if name not in data else "must be true or false")
            return False
        return value

    def feature(self, data: Mapping[str, Any], name: str, field: str) -> Feature | None:
        value = data.get(name)
        feature = next((f for f in FEATURES if f == value), None)
        if feature is None:
            self.error(field, f"must be one of {', '.join(FEATURES)}")
        return feature

    def instant(self, data: Mapping[str, Any], name: str, field: str) -> datetime | None:
        value = data.get(name)
        parsed = parse_rfc3339(value) if isinstance(value, str) else None
        if parsed is None:
            self.error(field, "is required" if name not in data else "must be an RFC 3339 date-time")
        return parsed

    def actor(self, data: Mapping[str, Any], name: str, field: str) -> Actor:
        value = data.get(name)
        if not isinstance(value, dict):
            self.error(field, "is required" if name not in data else "must be an object {id, upn}")
            return Actor("", "")
        for key in value:
            if key not in ("id", "upn"):
                self.error(f"{field}.{key}", "is not a field of actor")
        return Actor(self.guid(value, "id", f"{field}.id"), self.text(value, "upn", f"{field}.upn"))
