"""Small helpers shared by the Table Storage adapters: times, JSON properties, keys and ETag conflicts.

Times are stored as ISO 8601 strings (UTC, microseconds) rather than Edm.DateTime so that they read back
exactly as written. JSON values longer than a property allows (32K UTF-16 characters) are split over
numbered properties (`name`, `name_1`, ...).
"""

from __future__ import annotations

import base64
import binascii
import json
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceResponseError,
)
from azure.data.tables import EntityProperty, TableClient, TableTransactionError

from functions.adapters.storage import translate_storage_errors
from functions.domain.errors import ConcurrencyConflict, FieldError, ValidationFailed
from functions.domain.events import CHANGE_SOURCES, Provenance

Entity = dict[str, Any]

_CHUNK = 30_000
_MAX_TICKS = 3_155_378_975_999_999_999  # .NET DateTime.MaxValue.Ticks, the usual "newest first" base
_EPOCH_TICKS = 621_355_968_000_000_000  # ticks from 0001-01-01 to 1970-01-01
_CONFLICT_CODES = {"UpdateConditionNotSatisfied", "EntityAlreadyExists", "ConditionNotMet"}


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def parse_iso(value: Any) -> datetime | None:
    return datetime.fromisoformat(value).astimezone(UTC) if isinstance(value, str) and value else None


def required_iso(value: Any) -> datetime:
    parsed = parse_iso(value)
    if parsed is None:
        raise ValueError(f"a stored time is missing or malformed: {value!r}")
    return parsed


def inverted_ticks(at: datetime) -> str:
    """19 digits that sort newest first: .NET ticks subtracted from DateTime.MaxValue."""
    ticks = _EPOCH_TICKS + int(at.timestamp() * 1_000_000) * 10
    return f"{_MAX_TICKS - ticks:019d}"


def safe_key(value: str) -> str:
    """A value usable as PartitionKey/RowKey: `/ \\ # ?`, `%` and control characters percent-escaped."""
    return urllib.parse.quote(
        value, safe="".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in "/\\#?%")
    )


def put_json(entity: Entity, name: str, value: Any) -> None:
    text = json.dumps(value, separators=(",", ":"), sort_keys=True)
    for index in range(0, max(len(text), 1), _CHUNK):
        entity[name if index == 0 else f"{name}_{index // _CHUNK}"] = text[index : index + _CHUNK]


def get_json(entity: Mapping[str, Any], name: str, default: Any = None) -> Any:
    if name not in entity:
        return default
    parts = [entity[name]]
    index = 1
    while f"{name}_{index}" in entity:
        parts.append(entity[f"{name}_{index}"])
        index += 1
    return json.loads("".join(parts))


def provenance_to_json(provenance: Provenance) -> dict[str, Any]:
    return {
        "actorId": provenance.actor_id,
        "eventId": provenance.event_id,
        "eventTime": iso(provenance.event_time),
        "source": provenance.source,
        "recordedAt": iso(provenance.recorded_at),
    }


def provenance_from_json(value: Mapping[str, Any]) -> Provenance:
    # An earlier version also stored the actor's UPN (`actorUpn`); it is left unread, and the purge strips
    # it (functions/adapters/consent_store.py `ConsentActorScrub`).
    return Provenance(
        actor_id=value.get("actorId"),
        event_id=str(value["eventId"]),
        event_time=required_iso(value["eventTime"]),
        source=next((s for s in CHANGE_SOURCES if s == value.get("source")), "webhook"),
        recorded_at=required_iso(value["recordedAt"]),
    )


def etag_of(entity: Any) -> str | None:
    metadata = getattr(entity, "metadata", None) or {}
    etag = metadata.get("etag")
    return str(etag) if etag else None


def guarded_update(etag: str | None) -> dict[str, Any]:
    """Keyword arguments of an update that fails when the entity changed since it was read."""
    return {"etag": etag, "match_condition": MatchConditions.IfNotModified}


def insert(table: TableClient, entity: Entity) -> dict[str, Any]:
    """`create_entity` that survives a lost answer; its metadata (the ETag). `ResourceExistsError` means
    another writer holds the key.

    A keep-alive connection the service has just closed can swallow the answer to an insert that landed, and
    the SDK does not resend a POST. So after a lost answer the row is read back: absent, it is inserted
    again; present with exactly our values, it is ours; present with other values, it is someone else's.
    """
    try:
        return dict(table.create_entity(entity))
    except ServiceResponseError:
        pass
    try:
        stored = table.get_entity(str(entity["PartitionKey"]), str(entity["RowKey"]))
    except ResourceNotFoundError:
        return dict(table.create_entity(entity))
    if any(_plain(stored.get(name)) != _plain(value) for name, value in entity.items()):
        raise ResourceExistsError(f"another writer holds this key in table {table.table_name}")
    return {"etag": etag_of(stored)}


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, EntityProperty) else value


@contextmanager
def conflicts_as_concurrency() -> Iterator[None]:
    """ETag mismatches and insert races become `ConcurrencyConflict`; other SDK errors `StorageError`."""
    with translate_storage_errors():
        try:
            yield
        except (ResourceModifiedError, ResourceExistsError) as error:
            raise ConcurrencyConflict(f"lost a write race: {error.message}") from error
        except TableTransactionError as error:
            if getattr(error, "error_code", None) in _CONFLICT_CODES or error.status_code in (409, 412):
                raise ConcurrencyConflict(f"lost a write race: {error.message}") from error
            raise
        except HttpResponseError as error:
            if error.status_code == 412:
                raise ConcurrencyConflict(f"lost a write race: {error.message}") from error
            raise


def encode_continuation(position: Any, tenant_id: str) -> str:
    """An opaque continuation token for a page of a tenant's list: where the next page starts."""
    wrapped = {"tenant": tenant_id, "next": position}
    return base64.urlsafe_b64encode(json.dumps(wrapped, sort_keys=True).encode()).decode().rstrip("=")


def decode_continuation(text: str, tenant_id: str) -> Any:
    """The position inside a token issued for this tenant's list; `ValidationFailed` for anything else (the
    caller still checks the position's shape)."""
    try:
        wrapped = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise invalid_continuation() from None
    if not isinstance(wrapped, dict) or wrapped.get("tenant") != tenant_id:
        raise invalid_continuation()
    return wrapped.get("next")


def invalid_continuation() -> ValidationFailed:
    return ValidationFailed(
        "the continuation token is not valid", [FieldError("continuation", "is not a token from this API")]
    )
