"""The stored forms of an `Interaction`, in one place: a table entity (per-user slices and the contact index
share it) and a backup line (one JSON object per line of a backup blob). Both use the same wire names; both
read back exactly what was written (tests/unit/test_interaction_codec.py proves it for any interaction), and
both refuse anything that is not an interaction with `ValueError`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from functions.adapters.table_rows import Entity
from functions.domain.interactions import Interaction

# Wire name -> attribute. The entity and the line carry exactly these (plus the entity's keys and `run`).
WIRE_NAMES: dict[str, str] = {
    "key": "key",
    "kind": "kind",
    "userId": "user_id",
    "contact": "contact",
    "at": "at",
    "direction": "direction",
    "userRole": "user_role",
    "contactRole": "contact_role",
    "conversation": "conversation",
    "minutes": "minutes",
    "account": "account",
}
# Written by every writer since accounts are kept; rows and lines from before lack them and read as "".
OPTIONAL_WIRE_NAMES = frozenset({"account"})
SELECT: list[str] = list(WIRE_NAMES)  # the properties a query needs to rebuild an interaction


def to_entity(interaction: Interaction, partition: str, row_key: str, run: str) -> Entity:
    """The table entity, tagged with the ingestion run that wrote it (what a revoked window takes back)."""
    entity: Entity = {"PartitionKey": partition, "RowKey": row_key, "run": run}
    for wire, attribute in WIRE_NAMES.items():
        entity[wire] = getattr(interaction, attribute)
    entity["minutes"] = float(interaction.minutes)
    return entity


def from_entity(row: Mapping[str, Any]) -> Interaction:
    return _from_wire(row, row.get("at"))


def to_line(interaction: Interaction) -> bytes:
    """One backup line: the wire names as JSON, the time in ISO 8601, newline-terminated."""
    value: dict[str, Any] = {wire: getattr(interaction, attribute) for wire, attribute in WIRE_NAMES.items()}
    value["at"] = interaction.at.isoformat()
    value["minutes"] = float(interaction.minutes)
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode() + b"\n"


def from_line(line: bytes | str) -> Interaction:
    try:
        value = json.loads(line)
    except ValueError as error:
        raise ValueError(f"a backup line is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise ValueError("a backup line is not a JSON object")
    at = value.get("at")
    try:
        when = datetime.fromisoformat(at) if isinstance(at, str) else at
    except ValueError:
        raise ValueError(f"a backup line's time is not ISO 8601: {at!r}") from None
    return _from_wire(value, when)


def _from_wire(value: Mapping[str, Any], at: object) -> Interaction:
    missing = [wire for wire in WIRE_NAMES if wire not in value and wire not in OPTIONAL_WIRE_NAMES]
    if missing:
        raise ValueError(f"interaction record lacks {', '.join(missing)}")
    fields = {attribute: value.get(wire) for wire, attribute in WIRE_NAMES.items()}
    fields["at"] = at
    return Interaction.validated(fields)
