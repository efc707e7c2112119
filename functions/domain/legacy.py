"""Legacy consent forms after their import: expiry (recorded by the maintenance timer) and the operator's
bulk import (every row parsed and validated before anything is written).

Expiry. A legacy record stops enabling its feature the instant `expires_at` is reached (`status_at`, in
functions/domain/consent.py); `expire_legacy` records that as status `expired`, once per record: a record
is only ever due while its stored status is `active`. Without a grant that is a withdrawal of the feature's
data, so the caller requests a `feature` purge per expired record; and when nothing at all stays enabled
for a tenant that never revoked, a `tenant` purge too, because ingested slices serve both features and a
feature purge leaves them (functions/adapters/slice_store.py). Their deadlines count from the expiry
(`purge_owed_from`), not from the timer's run: the instant is known in advance, and a late timer must show
as a late purge, not move the deadline with it. A revoked tenant's data went with its
revocation's tenant purge. Purge IDs come from the record's own import event, so a re-run finds the purge
it created instead of starting another, and a re-imported record (a new event) expires on its own.

Bulk import. `read_rows` turns the text of a CSV, JSON (an array of objects) or JSON Lines file into raw
rows that know their line numbers; `validate_rows` checks every row and returns the good rows and every
problem found, so an operator fixes the whole file in one go. Nothing here does I/O.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from functions.domain.access import is_guid
from functions.domain.consent import ConsentChange, LegacyConsent, TenantConsent, enabled_features
from functions.domain.events import MAX_CLOCK_SKEW, MAX_GROUP_IDS, Provenance, parse_rfc3339
from functions.domain.scope import FEATURES, Feature
from functions.domain.times import rfc3339

# --- expiry ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LegacyExpiry:
    """What recording the expiries due at `now` does to a tenant's consent, and which purges follow."""

    consent: TenantConsent  # with the due records `expired` (version moved on when anything expired)
    expired: tuple[Feature, ...]
    changes: tuple[ConsentChange, ...]
    provenance: Mapping[Feature, Provenance]  # per expired record: what its audit entry and purge carry
    purge_features: tuple[Feature, ...]  # expired without a grant: each gets a `feature` purge
    tenant_purge: Provenance | None  # set when nothing stays enabled for a tenant that never revoked
    # Where each purge's deadlines count from (`purge_owed_from`), however late the timer ran.
    deadlines_from: Mapping[Feature, datetime] = field(default_factory=dict)
    tenant_deadlines_from: datetime | None = None  # the latest of the due records' instants

    @property
    def changed(self) -> bool:
        return bool(self.expired)


def expiry_provenance(record: LegacyConsent, now: datetime) -> Provenance:
    """The timer's change: no actor; its ID names the record (by its import event, so a re-imported record
    is another record), its event time is the expiry instant, and we recorded it at `now`."""
    event_id = f"legacy-expiry:{record.feature}:{record.imported.event_id}"
    return Provenance(None, event_id, record.expires_at, "timer", now)


def purge_owed_from(record: LegacyConsent) -> datetime:
    """When the withdrawal of a record's feature began: its expiry instant, known in advance, so a timer that
    runs late does not move the purge's deadlines. A record imported after its expiry never enabled anything
    here, and nothing could have purged for it before it arrived: then its import. (An active record's
    `status_changed_at` is when it was first stored; a restatement of the same record moves `imported`, and
    must not move the deadline.)"""
    stored_at = record.status_changed_at or record.imported.recorded_at
    return max(record.expires_at, stored_at)


def expire_legacy(consent: TenantConsent, now: datetime) -> LegacyExpiry:
    """Record every legacy record whose expiry has passed at `now` (>= expires_at) as `expired`."""
    due = [
        feature
        for feature in FEATURES
        if (record := consent.legacy.get(feature)) is not None
        and record.status == "active"
        and record.status_at(now) == "expired"
    ]
    if not due:
        return LegacyExpiry(consent, (), (), {}, (), None)
    legacy = dict(consent.legacy)
    provenance: dict[Feature, Provenance] = {}
    owed_from: dict[Feature, datetime] = {}
    changes: list[ConsentChange] = []
    for feature in due:
        record = consent.legacy[feature]
        stamp = expiry_provenance(record, now)
        provenance[feature] = stamp
        owed_from[feature] = purge_owed_from(record)
        legacy[feature] = replace(record, status="expired", status_changed_at=now)
        changes.append(ConsentChange("legacy-expired", stamp, feature))
    updated = replace(consent, version=consent.version + 1, legacy=legacy)
    purge_features = tuple(due) if consent.state != "granted" else ()
    tenant_purge = tenant_from = None
    if consent.state == "none" and not enabled_features(updated, now):
        ids = ",".join(provenance[f].event_id for f in due)
        tenant_purge = Provenance(None, f"legacy-expiry:tenant:{ids}", now, "timer", now)
        # The last of the due records to stop is when the tenant was left with nothing enabled.
        tenant_from = max(owed_from.values())
    return LegacyExpiry(
        updated, tuple(due), tuple(changes), provenance, purge_features, tenant_purge,
        {f: owed_from[f] for f in purge_features}, tenant_from,
    )  # fmt: skip


# --- bulk import: rows -------------------------------------------------------------------------------------

ImportFormat = Literal["csv", "json", "jsonl"]
IMPORT_FORMATS: tuple[ImportFormat, ...] = ("csv", "json", "jsonl")
REQUIRED_FIELDS = ("tenantId", "feature", "grantedAt")
OPTIONAL_FIELDS = ("expiresAt", "optedOutGroupIds")
FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS
# Inside one CSV cell, group IDs are separated by semicolons, commas or spaces.
_GROUP_SEPARATORS = re.compile(r"[;,\s]+")
Report = Callable[[str | None, str], None]  # (field, message): notes a problem of the row being checked


@dataclass(frozen=True, slots=True)
class RowProblem:
    line: int  # 1-based line of the file where the row starts (0: the file as a whole)
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ImportFileInvalid(Exception):
    """The file cannot be read as rows at all (bad JSON, no CSV header, unknown columns...)."""

    def __init__(self, problems: list[RowProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class RawRow:
    line: int
    values: Mapping[str, Any]
    unreadable: str | None = None  # why the row has no values (not an object, wrong number of cells)


@dataclass(frozen=True, slots=True)
class LegacyRow:
    """One valid legacy record of an import file (IDs lower-cased, times in UTC)."""

    line: int
    tenant_id: str
    feature: Feature
    granted_at: datetime
    expires_at: datetime  # the row's own, or the feature's configured default
    opted_out_group_ids: frozenset[str]
    explicit_expiry: bool  # whether the row gave its own expiresAt

    @property
    def import_id(self) -> str:
        """Names the row's content: importing the same content again is recognised as already done."""
        content = "|".join(
            (
                self.tenant_id,
                self.feature,
                self.granted_at.isoformat(),
                self.expires_at.isoformat(),
                ",".join(sorted(self.opted_out_group_ids)),
            )
        )
        return "legacy-import:" + hashlib.sha256(content.encode()).hexdigest()[:32]


def format_of(file_name: str) -> ImportFormat | None:
    """The format a file name suggests (`.csv`, `.json`, `.jsonl` / `.ndjson`), or None."""
    lowered = file_name.lower()
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if lowered.endswith(".json"):
        return "json"
    return None


def read_rows(text: str, file_format: ImportFormat) -> list[RawRow]:
    """The rows of a file with the line each starts on; `ImportFileInvalid` when it has no readable rows."""
    text = text.removeprefix("\ufeff")  # a byte-order mark, as spreadsheet exports write
    if file_format == "csv":
        rows = _csv_rows(text)
    elif file_format == "jsonl":
        rows = list(_jsonl_rows(text))
    else:
        rows = _json_rows(text)
    if not rows:
        raise ImportFileInvalid([RowProblem(0, None, "the file holds no records")])
    return rows


def _csv_rows(text: str) -> list[RawRow]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return []
        columns = [c.strip() for c in header]
        problems = [
            RowProblem(1, column or None, "is not a column of a legacy record" if column else "empty column")
            for column in columns
            if column not in FIELDS
        ]
        problems += [RowProblem(1, c, "column is missing") for c in REQUIRED_FIELDS if c not in columns]
        problems += [RowProblem(1, c, "column appears twice") for c in set(columns) if columns.count(c) > 1]
        if problems:
            raise ImportFileInvalid(problems)
        rows: list[RawRow] = []
        line = reader.line_num + 1
        for cells in reader:
            if any(cell.strip() for cell in cells):
                if len(cells) != len(columns):
                    width = f"has {len(cells)} cells; the header has {len(columns)}"
                    rows.append(RawRow(line, {}, width))
                else:
                    rows.append(RawRow(line, dict(zip(columns, cells, strict=True))))
            line = reader.line_num + 1
    except csv.Error as error:
        raise ImportFileInvalid([RowProblem(reader.line_num, None, f"not valid CSV: {error}")]) from None
    return rows


def _jsonl_rows(text: str) -> Iterator[RawRow]:
    for number, content in enumerate(text.splitlines(), start=1):
        if not content.strip():
            continue
        try:
            value = json.loads(content)
        except json.JSONDecodeError as error:
            raise ImportFileInvalid([RowProblem(number, None, f"not valid JSON: {error.msg}")]) from None
        yield _json_row(number, value)


def _json_rows(text: str) -> list[RawRow]:
    """An array of objects, each remembering the line its `{` is on (json.loads would forget)."""
    decoder = json.JSONDecoder()
    position = _skip_space(text, 0)
    if position >= len(text) or text[position] != "[":
        line = _line_at(text, position)
        raise ImportFileInvalid([RowProblem(line, None, "a JSON import file is an array of records")])
    position = _skip_space(text, position + 1)
    rows: list[RawRow] = []
    try:
        while position < len(text) and text[position] != "]":
            value, end = decoder.raw_decode(text, position)
            rows.append(_json_row(_line_at(text, position), value))
            position = _skip_space(text, end)
            if position < len(text) and text[position] == ",":
                position = _skip_space(text, position + 1)
            elif position < len(text) and text[position] != "]":
                raise json.JSONDecodeError("expected ',' or ']'", text, position)
        if position >= len(text) or _skip_space(text, position + 1) != len(text):
            raise json.JSONDecodeError("the array is not closed, or text follows it", text, position)
    except json.JSONDecodeError as error:
        problem = RowProblem(_line_at(text, error.pos), None, f"not valid JSON: {error.msg}")
        raise ImportFileInvalid([problem]) from None
    return rows


def _json_row(line: int, value: Any) -> RawRow:
    return RawRow(line, value) if isinstance(value, dict) else RawRow(line, {}, "must be a JSON object")


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _line_at(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


# --- bulk import: validation -------------------------------------------------------------------------------


def validate_rows(
    rows: list[RawRow], default_expiry: Mapping[Feature, datetime], now: datetime
) -> tuple[list[LegacyRow], list[RowProblem]]:
    """Every valid row, and every problem of every row (an import goes ahead only when there are none).

    One legacy record exists per tenant and feature, so a second row for the same pair is a duplicate
    (whatever else it says): the file must say which one it means.
    """
    valid: list[LegacyRow] = []
    problems: list[RowProblem] = []
    first_line: dict[tuple[str, str], int] = {}
    for raw in rows:
        row, found = _validate(raw, default_expiry, now)
        problems += found
        if row is None:
            continue
        key = (row.tenant_id, row.feature)
        if key in first_line:
            problems.append(
                RowProblem(
                    raw.line, None,
                    f"duplicates line {first_line[key]}: one legacy record per tenant and feature",
                )
            )  # fmt: skip
            continue
        first_line[key] = raw.line
        valid.append(row)
    return valid, problems


def _validate(
    raw: RawRow, default_expiry: Mapping[Feature, datetime], now: datetime
) -> tuple[LegacyRow | None, list[RowProblem]]:
    problems: list[RowProblem] = []

    def problem(field: str | None, message: str) -> None:
        problems.append(RowProblem(raw.line, field, message))

    if raw.unreadable is not None:
        problem(None, raw.unreadable)
        return None, problems
    values = raw.values
    for name in values:
        if name not in FIELDS:
            problem(name, "is not a field of a legacy record")
    tenant_id = _guid(values, "tenantId", problem)
    feature = _feature(values, problem)
    granted_at = _instant(values, "grantedAt", problem, required=True)
    expires_at = _instant(values, "expiresAt", problem, required=False)
    groups = _groups(values, problem)
    if granted_at is not None and granted_at > now + MAX_CLOCK_SKEW:
        problem("grantedAt", "is in the future")
    explicit = expires_at is not None
    if expires_at is None and feature is not None:
        expires_at = default_expiry[feature]
    if granted_at is not None and expires_at is not None and expires_at <= granted_at:
        if explicit:
            problem("expiresAt", "must be after grantedAt")
        else:
            problem("grantedAt", f"is not before the default expiry of {feature} ({_text(expires_at)})")
    if problems or tenant_id is None or feature is None or granted_at is None or expires_at is None:
        return None, problems
    return LegacyRow(raw.line, tenant_id, feature, granted_at, expires_at, groups, explicit), problems


def _present(values: Mapping[str, Any], name: str) -> bool:
    value = values.get(name)
    return value is not None and not (isinstance(value, str) and not value.strip())


def _guid(values: Mapping[str, Any], name: str, problem: Report) -> str | None:
    value = values.get(name)
    if not _present(values, name):
        problem(name, "is required")
    elif not isinstance(value, str) or not is_guid(value.strip()):
        problem(name, f"must be a GUID, not {_shown(value)}")
    else:
        return value.strip().lower()
    return None


def _feature(values: Mapping[str, Any], problem: Report) -> Feature | None:
    value = values.get("feature")
    if not _present(values, "feature"):
        problem("feature", "is required")
        return None
    text = value.strip() if isinstance(value, str) else value
    found = next((f for f in FEATURES if f == text), None)
    if found is None:
        problem("feature", f"unknown feature {_shown(value)}; must be one of {', '.join(FEATURES)}")
    return found


def _instant(values: Mapping[str, Any], name: str, problem: Report, *, required: bool) -> datetime | None:
    if not _present(values, name):
        if required:
            problem(name, "is required")
        return None
    value = values[name]
    parsed = parse_rfc3339(value.strip()) if isinstance(value, str) else None
    if parsed is None:
        example = "e.g. 2022-09-30T23:59:59Z"
        problem(name, f"must be an RFC 3339 date-time with a zone ({example}), not {_shown(value)}")
    return parsed


def _groups(values: Mapping[str, Any], problem: Report) -> frozenset[str]:
    value = values.get("optedOutGroupIds")
    if value is None:
        return frozenset()
    if isinstance(value, str):
        items: list[Any] = [v for v in _GROUP_SEPARATORS.split(value.strip()) if v]
    elif isinstance(value, list):
        items = value
    else:
        problem("optedOutGroupIds", "must be a list of GUIDs")
        return frozenset()
    if len(items) > MAX_GROUP_IDS:
        problem("optedOutGroupIds", f"must hold at most {MAX_GROUP_IDS} GUIDs")
    good: set[str] = set()
    for item in items:
        if isinstance(item, str) and is_guid(item.strip()):
            good.add(item.strip().lower())
        else:
            problem("optedOutGroupIds", f"{_shown(item)} is not a GUID")
    return frozenset(good)


def _shown(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _text(at: datetime) -> str:
    return rfc3339(at)
