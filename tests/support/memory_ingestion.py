"""In-memory stand-ins for the ingestion side: cursors and profiles, slices, the contact index, backups,
and a Graph reader serving a fixed directory. They honour the contracts of the Table/Blob adapters that the
services rely on (upserts by key, update only if present, insert-all-or-nothing), so the rules of scheduling,
the worker's fence, backups, insights and restore run in unit tests; the adapters are tested on Azurite.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from functions.adapters.cursor_store import TenantCursors
from functions.adapters.introduction_store import IntroductionRequest
from functions.adapters.slice_store import FACT_FIELDS, fact_entity, fact_from
from functions.domain.errors import GraphNotFound
from functions.domain.ingestion import Cursor, UserProfile
from functions.domain.interactions import Interaction
from functions.domain.introductions import IntroductionTemplate
from functions.domain.records import DirectoryUser, MeetingMeta, MessageMeta


class MemoryCursorStore:
    def __init__(self) -> None:
        self.cursors: dict[tuple[str, str, str], Cursor] = {}
        self.profile_rows: dict[tuple[str, str], UserProfile] = {}
        self._lock = threading.Lock()

    def tenant(self, tenant_id: str) -> TenantCursors:
        return TenantCursors(
            [c for (t, _, _), c in self.cursors.items() if t == tenant_id.lower()], self.profiles(tenant_id)
        )

    def failed(self, tenant_id: str) -> list[Cursor]:
        return [c for c in self.tenant(tenant_id).cursors if c.status == "failed"]

    def profiles(self, tenant_id: str) -> dict[str, UserProfile]:
        return {u: p for (t, u), p in self.profile_rows.items() if t == tenant_id.lower()}

    def user(self, tenant_id: str, user_id: str) -> list[Cursor]:
        return [c for c in self.tenant(tenant_id).cursors if c.user_id == user_id.lower()]

    def get(self, tenant_id: str, user_id: str, window: str) -> Cursor | None:
        return self.cursors.get((tenant_id.lower(), user_id.lower(), window))

    def save(self, cursor: Cursor) -> None:
        self.save_all([cursor])

    def save_all(self, cursors: Iterable[Cursor]) -> None:
        with self._lock:
            for c in cursors:
                self.cursors[c.tenant_id.lower(), c.user_id.lower(), c.window] = c

    def update_if_present(self, cursor: Cursor) -> bool:
        key = (cursor.tenant_id.lower(), cursor.user_id.lower(), cursor.window)
        with self._lock:
            if key not in self.cursors:
                return False
            self.cursors[key] = cursor
            return True

    def delete(self, tenant_id: str, user_id: str, window: str) -> None:
        with self._lock:
            self.cursors.pop((tenant_id.lower(), user_id.lower(), window), None)

    def create_all(self, cursors: list[Cursor]) -> bool:
        keys = [(c.tenant_id.lower(), c.user_id.lower(), c.window) for c in cursors]
        with self._lock:
            if any(k in self.cursors for k in keys):
                return False
            self.cursors.update(zip(keys, cursors, strict=True))
            return True

    def save_profiles(self, profiles: Iterable[UserProfile]) -> None:
        with self._lock:
            for p in profiles:
                self.profile_rows[p.tenant_id.lower(), p.user_id.lower()] = p

    def delete_profiles(self, tenant_id: str, user_ids: Iterable[str]) -> int:
        with self._lock:
            keys = [(tenant_id.lower(), u.lower()) for u in user_ids]
            return sum(self.profile_rows.pop(k, None) is not None for k in keys)


class MemorySliceStore:
    """Slices: (tenant, user) -> record key -> (fact, run)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, tuple[Interaction, str]]] = {}
        self.writes: list[tuple[str, str, str]] = []  # (tenant, user, run) of every write
        self._lock = threading.Lock()

    def write(self, tenant_id: str, user_id: str, facts: Sequence[Interaction], run: str) -> int:
        with self._lock:
            partition = self.rows.setdefault((tenant_id.lower(), user_id.lower()), {})
            for fact in facts:
                partition[fact.record_key] = (fact, run)
            self.writes.append((tenant_id.lower(), user_id.lower(), run))
        return len({f.record_key for f in facts})

    def facts(self, tenant_id: str, user_id: str) -> Iterator[Interaction]:
        yield from (f for f, _ in self.rows.get((tenant_id.lower(), user_id.lower()), {}).values())

    def facts_of_run(self, tenant_id: str, user_id: str, run: str) -> list[Interaction]:
        rows = self.rows.get((tenant_id.lower(), user_id.lower()), {})
        return [f for f, r in rows.values() if r == run]

    def delete_facts(self, tenant_id: str, user_id: str, facts: Iterable[Interaction]) -> int:
        with self._lock:
            rows = self.rows.get((tenant_id.lower(), user_id.lower()), {})
            return sum(rows.pop(f.record_key, None) is not None for f in facts)

    def records(self, tenant_id: str, user_id: str) -> Iterator[dict[str, Any]]:
        for fact, run in list(self.rows.get((tenant_id.lower(), user_id.lower()), {}).values()):
            yield backup_record(fact, run)


def backup_record(fact: Interaction, run: str = "seed") -> dict[str, Any]:
    """A fact as the slice store's `records` gives it to a backup (and restore reads it back)."""
    entity = fact_entity("p", fact.record_key, fact, run)
    record = {name: entity[name] for name in FACT_FIELDS}
    record["at"] = fact.at.isoformat()
    return record


class MemoryContactStore:
    """The contact index: (tenant, contact) -> (user, key) -> fact."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[tuple[str, str], Interaction]] = {}
        self._lock = threading.Lock()

    def write(self, tenant_id: str, facts: Iterable[Interaction], run: str) -> int:
        written = 0
        with self._lock:
            for fact in facts:
                partition = self.rows.setdefault((tenant_id.lower(), fact.contact), {})
                partition[fact.user_id.lower(), fact.key] = fact
                written += 1
        return written

    def facts(self, tenant_id: str, contact: str) -> list[Interaction]:
        return list(self.rows.get((tenant_id.lower(), contact), {}).values())

    def delete_facts(self, tenant_id: str, facts: Iterable[Interaction]) -> int:
        with self._lock:
            removed = 0
            for fact in facts:
                partition = self.rows.get((tenant_id.lower(), fact.contact), {})
                removed += partition.pop((fact.user_id.lower(), fact.key), None) is not None
            return removed


class MemoryIntroductionStore:
    def __init__(self) -> None:
        self.requests: list[IntroductionRequest] = []
        self.templates: dict[str, IntroductionTemplate] = {}

    def record(self, request: IntroductionRequest) -> IntroductionRequest:
        stored = replace(request, id=f"request-{len(self.requests) + 1}")
        self.requests.append(stored)
        return stored

    def template(self, tenant_id: str) -> IntroductionTemplate | None:
        return self.templates.get(tenant_id)

    def save_template(self, tenant_id: str, template: IntroductionTemplate, at: datetime) -> None:
        self.templates[tenant_id] = template


class MemoryBackupStore:
    """Backups by name `{tenant}/{user}/{day}.jsonl`."""

    def __init__(self) -> None:
        self.blobs: dict[str, list[dict[str, Any]]] = {}
        self.written: list[str] = []  # every name ever written, even if deleted again since

    def write(self, tenant_id: str, user_id: str, day: date, records: Iterable[dict[str, Any]]) -> int:
        rows = list(records)
        self.blobs[_name(tenant_id, user_id, day)] = rows
        self.written.append(_name(tenant_id, user_id, day))
        return len(rows)

    def read(self, tenant_id: str, user_id: str, day: date) -> list[dict[str, Any]]:
        return list(self.blobs.get(_name(tenant_id, user_id, day), []))

    def delete(self, tenant_id: str, user_id: str, day: date) -> int:
        return int(self.blobs.pop(_name(tenant_id, user_id, day), None) is not None)

    def names(self, prefix: str) -> list[str]:
        return sorted(n for n in self.blobs if n.startswith(prefix))


def _name(tenant_id: str, user_id: str, day: date) -> str:
    return f"{tenant_id.lower()}/{user_id.lower()}/{day.isoformat()}.jsonl"


@dataclass
class EmptyRound:
    delta_link: str = "delta-link"

    async def pages(self) -> AsyncIterator[list[MessageMeta]]:
        for page in ():
            yield page


@dataclass
class DirectoryGraph:
    """A Graph reader serving a directory and group memberships, with empty mailboxes and calendars."""

    users: list[DirectoryUser]
    members: dict[str, set[str]] = field(default_factory=dict)  # group -> user IDs
    domains: list[str] = field(default_factory=lambda: ["contoso.com"])
    calls: list[str] = field(default_factory=list)

    async def list_users(self, tenant_id: str) -> AsyncIterator[DirectoryUser]:
        self.calls.append("users")
        for user in self.users:
            yield user

    async def verified_domains(self, tenant_id: str) -> list[str]:
        return list(self.domains)

    async def transitive_user_members(self, tenant_id: str, group_id: str) -> AsyncIterator[str]:
        self.calls.append(f"members:{group_id}")
        if group_id not in self.members:
            raise GraphNotFound(f"group {group_id} does not exist")
        for user in sorted(self.members[group_id]):
            yield user

    async def messages(
        self,
        tenant_id: str,
        user_id: str,
        start: datetime,
        end: datetime,
    ) -> AsyncIterator[list[MessageMeta]]:
        self.calls.append(f"messages:{user_id}")
        for page in ():
            yield page

    async def calendar_view(
        self,
        tenant_id: str,
        user_id: str,
        start: datetime,
        end: datetime,
    ) -> AsyncIterator[list[MeetingMeta]]:
        for page in ():
            yield page

    def messages_delta(
        self,
        tenant_id: str,
        user_id: str,
        delta_link: str | None,
        since: datetime,
    ) -> EmptyRound:
        self.calls.append(f"messages:{user_id}")
        return EmptyRound()

    async def aclose(self) -> None:
        return None


def seeded_fact(fact: Interaction) -> Interaction:
    """A fact after a round trip through the stored form (what the stores hand back)."""
    return fact_from(fact_entity("p", fact.record_key, fact, "seed"))
