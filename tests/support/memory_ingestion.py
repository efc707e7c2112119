"""In-memory implementations of the ingestion ports: cursors and profiles, slices, the contact index,
introductions, backups, and a Graph reader serving a fixed directory and the mailboxes a test gives it
(`message` / `meeting` build their contents). They honour the contracts of the Table/Blob adapters the
services rely on (upserts by key, update only if present, insert-all-or-nothing), and each store that holds
subject data can be purged (`delete_scope` / `count_scope`), so scheduling, the worker's fence, backups,
insights, restore and the purge all run in unit tests; the adapters are tested on Azurite.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import TypeVar

from functions.adapters import interaction_codec
from functions.domain.errors import GraphError, GraphNotFound
from functions.domain.health_config import HealthConfig
from functions.domain.ingestion import Cursor, UserProfile
from functions.domain.interactions import Interaction
from functions.domain.introductions import IntroductionRequest, IntroductionTemplate
from functions.domain.metadata import Attendee, DirectoryUser, MeetingMeta, MessageMeta
from functions.domain.scope import Scope
from functions.services.ports.ingestion import TenantCursors

T = TypeVar("T")


class MemoryCursorStore:
    name = "cursors"

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

    def delete_scope(self, scope: Scope) -> int:
        with self._lock:
            cursors = [k for k in self.cursors if _covers(scope, k[0], k[1])]
            profiles = [k for k in self.profile_rows if _covers(scope, k[0], k[1])]
            for key in cursors:
                del self.cursors[key]
            for profile in profiles:
                del self.profile_rows[profile]
            return len(cursors) + len(profiles)

    def count_scope(self, scope: Scope) -> int:
        with self._lock:
            cursors = sum(_covers(scope, k[0], k[1]) for k in self.cursors)
            return cursors + sum(_covers(scope, k[0], k[1]) for k in self.profile_rows)


class MemorySliceStore:
    """Slices: (tenant, user) -> record key -> (interaction, run)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, tuple[Interaction, str]]] = {}
        self.writes: list[tuple[str, str, str]] = []  # (tenant, user, run) of every write
        self._lock = threading.Lock()

    def write(self, tenant_id: str, user_id: str, interactions: Sequence[Interaction], run: str) -> int:
        with self._lock:
            partition = self.rows.setdefault((tenant_id.lower(), user_id.lower()), {})
            for interaction in interactions:
                partition[interaction.record_key] = (interaction, run)
            self.writes.append((tenant_id.lower(), user_id.lower(), run))
        return len({f.record_key for f in interactions})

    def interactions(self, tenant_id: str, user_id: str) -> Iterator[Interaction]:
        yield from (f for f, _ in self.rows.get((tenant_id.lower(), user_id.lower()), {}).values())

    def interactions_of_run(self, tenant_id: str, user_id: str, run: str) -> list[Interaction]:
        rows = self.rows.get((tenant_id.lower(), user_id.lower()), {})
        return [f for f, r in rows.values() if r == run]

    def meetings_after(self, tenant_id: str, user_id: str, after: datetime) -> list[Interaction]:
        return [f for f in self.interactions(tenant_id, user_id) if f.kind == "meeting" and f.at > after]

    def delete_interactions(self, tenant_id: str, user_id: str, interactions: Iterable[Interaction]) -> int:
        with self._lock:
            rows = self.rows.get((tenant_id.lower(), user_id.lower()), {})
            return sum(rows.pop(f.record_key, None) is not None for f in interactions)

    # --- ScopedStore ----------------------------------------------------------------------------------------

    name = "slices"

    def _of(self, scope: Scope) -> list[tuple[str, str]]:
        return [k for k in self.rows if _covers(scope, k[0], k[1])]

    def delete_scope(self, scope: Scope) -> int:
        with self._lock:
            return sum(len(self.rows.pop(k)) for k in self._of(scope))

    def count_scope(self, scope: Scope) -> int:
        with self._lock:
            return sum(len(self.rows[k]) for k in self._of(scope))


def _covers(scope: Scope, tenant_id: str, user_id: str | None) -> bool:
    """Whether a scope covers an item of (tenant, user): a tenant scope all of it, a feature scope nothing."""
    if scope.kind == "feature" or tenant_id != scope.tenant_id.lower():
        return False
    return scope.kind == "tenant" or (user_id is not None and user_id == str(scope.user_id).lower())


class MemoryContactStore:
    """The contact index: (tenant, contact) -> (user, key) -> interaction."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[tuple[str, str], Interaction]] = {}
        self._lock = threading.Lock()

    def write(self, tenant_id: str, interactions: Iterable[Interaction], run: str) -> int:
        written = 0
        with self._lock:
            for interaction in interactions:
                partition = self.rows.setdefault((tenant_id.lower(), interaction.contact), {})
                partition[interaction.user_id.lower(), interaction.key] = interaction
                written += 1
        return written

    def interactions(self, tenant_id: str, contact: str) -> list[Interaction]:
        return list(self.rows.get((tenant_id.lower(), contact), {}).values())

    def delete_interactions(self, tenant_id: str, interactions: Iterable[Interaction]) -> int:
        with self._lock:
            removed = 0
            for interaction in interactions:
                partition = self.rows.get((tenant_id.lower(), interaction.contact), {})
                removed += partition.pop((interaction.user_id.lower(), interaction.key), None) is not None
            return removed

    name = "contacts"

    def delete_scope(self, scope: Scope) -> int:
        with self._lock:
            return sum(self._scan(scope, delete=True))

    def count_scope(self, scope: Scope) -> int:
        with self._lock:
            return sum(self._scan(scope, delete=False))

    def _scan(self, scope: Scope, *, delete: bool) -> Iterator[int]:
        for (tenant, _), partition in self.rows.items():
            found = [k for k in partition if _covers(scope, tenant, k[0])]
            for key in found if delete else ():
                del partition[key]
            yield len(found)


class MemoryIntroductionStore:
    name = "introductions"

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

    def _of(self, scope: Scope) -> list[IntroductionRequest]:
        return [
            r for r in self.requests
            if _covers(scope, r.tenant_id.lower(), r.requester_id.lower())
            or _covers(scope, r.tenant_id.lower(), r.colleague_user_id.lower())
        ]  # fmt: skip

    def delete_scope(self, scope: Scope) -> int:
        gone = self._of(scope)
        self.requests = [r for r in self.requests if r not in gone]
        return len(gone)

    def count_scope(self, scope: Scope) -> int:
        return len(self._of(scope))


class MemoryAccountStore:
    """The account index: (tenant, account hash) -> contact hashes."""

    name = "accounts"

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], set[str]] = {}

    def add(self, tenant_id: str, pairs: Iterable[tuple[str, str]]) -> int:
        added = 0
        for account, contact in pairs:
            self.rows.setdefault((tenant_id.lower(), account), set()).add(contact)
            added += 1
        return added

    def contacts(self, tenant_id: str, account: str) -> list[str]:
        return sorted(self.rows.get((tenant_id.lower(), account), set()))

    def delete_scope(self, scope: Scope) -> int:
        gone = [k for k in self.rows if scope.kind == "tenant" and k[0] == scope.tenant_id.lower()]
        return sum(len(self.rows.pop(k)) for k in gone)

    def count_scope(self, scope: Scope) -> int:
        return sum(
            len(v) for k, v in self.rows.items() if scope.kind == "tenant" and k[0] == scope.tenant_id.lower()
        )


class MemorySettingsStore:
    def __init__(self) -> None:
        self.saved: dict[str, tuple[HealthConfig, datetime, str | None]] = {}

    def insight_settings(self, tenant_id: str) -> HealthConfig | None:
        found = self.saved.get(tenant_id.lower())
        return found[0] if found else None

    def save_insight_settings(
        self, tenant_id: str, config: HealthConfig, at: datetime, actor_id: str | None
    ) -> None:
        self.saved[tenant_id.lower()] = (config, at, actor_id)


class MemoryBackupStore:
    """Backups by name `{tenant}/{user}/{day}.jsonl`, each a list of lines in the real backup form."""

    name = "backups"

    def __init__(self) -> None:
        self.blobs: dict[str, list[bytes]] = {}
        self.written: list[str] = []  # every name ever written, even if deleted again since

    def write(self, tenant_id: str, user_id: str, day: date, interactions: Iterable[Interaction]) -> int:
        lines = [interaction_codec.to_line(i) for i in interactions]
        self.blobs[_name(tenant_id, user_id, day)] = lines
        self.written.append(_name(tenant_id, user_id, day))
        return len(lines)

    def read(self, tenant_id: str, user_id: str, day: date) -> list[Interaction]:
        return [
            interaction_codec.from_line(line) for line in self.blobs.get(_name(tenant_id, user_id, day), [])
        ]

    def delete(self, tenant_id: str, user_id: str, day: date) -> int:
        return int(self.blobs.pop(_name(tenant_id, user_id, day), None) is not None)

    def users_with_backup(self, tenant_id: str, day: date) -> list[str]:
        suffix = f"/{day.isoformat()}.jsonl"
        return [n.split("/")[1] for n in self.names(f"{tenant_id.lower()}/") if n.endswith(suffix)]

    def names(self, prefix: str) -> list[str]:
        return sorted(n for n in self.blobs if n.startswith(prefix))

    def delete_scope(self, scope: Scope) -> int:
        gone = self._of(scope)
        for name in gone:
            del self.blobs[name]
        return len(gone)

    def count_scope(self, scope: Scope) -> int:
        return len(self._of(scope))

    def _of(self, scope: Scope) -> list[str]:
        return [n for n in self.blobs if _covers(scope, n.split("/")[0], n.split("/")[1])]


def _name(tenant_id: str, user_id: str, day: date) -> str:
    return f"{tenant_id.lower()}/{user_id.lower()}/{day.isoformat()}.jsonl"


@dataclass
class EmptyRound:
    delta_link: str = "delta-link"

    async def pages(self) -> AsyncIterator[list[MessageMeta]]:
        for page in ():
            yield page


@dataclass(frozen=True)
class GraphFailure:
    """What `DirectoryGraph.failures[user]` raises: `error`, at the first request for the user's mailbox (a
    read's first page, or each next page) made once `after_pages` of their pages have been served since the
    reader was last closed. `after_pages=0` fails the first read; with the mail's page count it fails the
    calendar after the mail was read. It keeps failing until the test removes it."""

    error: Exception
    after_pages: int = 0


class MailRound:
    """One delta round served by `DirectoryGraph.messages_delta`: its pages, then the link of the next round
    (`delta:{n}`: the user's first n messages have been served)."""

    def __init__(
        self, graph: DirectoryGraph, user_id: str, pages: list[list[MessageMeta]], seen: int
    ) -> None:
        self._graph, self._user_id, self._pages, self._seen = graph, user_id, pages, seen
        self._done = False

    @property
    def delta_link(self) -> str:
        if not self._done:
            raise RuntimeError("read delta_link after pages() has been iterated to the end")
        return f"delta:{self._seen}"

    async def pages(self) -> AsyncIterator[list[MessageMeta]]:
        async for page in self._graph.serve(self._user_id, self._pages):
            yield page
        self._done = True


@dataclass
class DirectoryGraph:
    """A Graph reader serving a directory and group memberships, and each user's mailbox as the test gives
    it (empty by default).

    `mail[user]` / `meetings[user]` are pages as Graph would return them: `messages` serves the messages
    received in [start, end), `calendar_view` the meetings overlapping [start, end), `messages_delta` the
    messages received on or after `since` without a delta link, else those added to `mail[user]` since the
    round that returned the link (append a page to deliver new mail). Pages emptied by the filter are left
    out. `failures[user]` makes the user's reads fail (`GraphFailure`). `calls` records, in order, the
    directory listing (`users`), each group resolved (`members:{group}`) and each mailbox read
    (`messages:{user}`, `calendar:{user}`), so a test can assert that nothing of someone was read.
    """

    users: list[DirectoryUser]
    members: dict[str, set[str]] = field(default_factory=dict)  # group -> user IDs
    domains: list[str] = field(default_factory=lambda: ["contoso.com"])
    calls: list[str] = field(default_factory=list)
    mail: dict[str, list[list[MessageMeta]]] = field(default_factory=dict)  # user -> pages
    meetings: dict[str, list[list[MeetingMeta]]] = field(default_factory=dict)  # user -> pages
    failures: dict[str, GraphFailure] = field(default_factory=dict)  # user -> how their reads fail
    served: dict[str, int] = field(default_factory=dict)  # user -> pages served since the last aclose()

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
        pages = _kept(self.mail.get(user_id, []), lambda m: start <= m.received_at < end)
        async for page in self.serve(user_id, pages):
            yield page

    async def calendar_view(
        self,
        tenant_id: str,
        user_id: str,
        start: datetime,
        end: datetime,
    ) -> AsyncIterator[list[MeetingMeta]]:
        self.calls.append(f"calendar:{user_id}")
        pages = _kept(self.meetings.get(user_id, []), lambda m: m.start < end and m.end > start)
        async for page in self.serve(user_id, pages):
            yield page

    def messages_delta(
        self,
        tenant_id: str,
        user_id: str,
        delta_link: str | None,
        since: datetime,
    ) -> MailRound:
        self.calls.append(f"messages:{user_id}")
        everything = [m for page in self.mail.get(user_id, []) for m in page]
        if delta_link is None:
            pages = _kept(self.mail.get(user_id, []), lambda m: m.received_at >= since)
        else:
            kind, _, seen = delta_link.partition(":")
            if kind != "delta" or not seen.isdigit():
                raise GraphError("the stored delta cursor is not readable")
            new = everything[int(seen) :]
            pages = [new] if new else []
        return MailRound(self, user_id, pages, len(everything))

    async def serve(self, user_id: str, pages: Sequence[T]) -> AsyncIterator[T]:
        """The pages of one read of the user's mailbox, failing as `failures[user_id]` says."""
        self._fail_if_due(user_id)  # the read's first request, even when it finds nothing
        for index, page in enumerate(pages):
            if index:
                self._fail_if_due(user_id)
            self.served[user_id] = self.served.get(user_id, 0) + 1
            yield page

    def _fail_if_due(self, user_id: str) -> None:
        failure = self.failures.get(user_id)
        if failure is not None and self.served.get(user_id, 0) >= failure.after_pages:
            raise failure.error

    async def aclose(self) -> None:
        self.served.clear()


def _kept(pages: Iterable[Sequence[T]], keep: Callable[[T], bool]) -> list[list[T]]:
    """The pages with only the items `keep` accepts; pages left empty are dropped."""
    return [kept for page in pages if (kept := [item for item in page if keep(item)])]


# --- mailbox contents for DirectoryGraph --------------------------------------------------------------------


def message(
    mailbox_user_id: str,
    sender: str,
    to: Sequence[str],
    at: datetime,
    *,
    cc: Sequence[str] = (),
    internet_message_id: str | None = None,
    conversation_id: str = "conversation",
    is_draft: bool = False,
) -> MessageMeta:
    """A message as one mailbox holds it (sent and received at `at`); give the same `internet_message_id` to
    put copies of one message in several mailboxes."""
    message_id = str(uuid.uuid4())
    return MessageMeta(
        mailbox_user_id=mailbox_user_id, message_id=message_id,
        internet_message_id=internet_message_id or f"<{message_id}@mail.example>",
        conversation_id=conversation_id, sender=sender, to=tuple(to), cc=tuple(cc), bcc=(), sent_at=at,
        received_at=at, is_draft=is_draft,
    )  # fmt: skip


def meeting(
    mailbox_user_id: str,
    organizer: str,
    attendees: Sequence[str],
    start: datetime,
    *,
    minutes: int = 60,
    ical_uid: str | None = None,
) -> MeetingMeta:
    """A meeting as one calendar holds it, every attendee required and accepted."""
    event_id = str(uuid.uuid4())
    return MeetingMeta(
        mailbox_user_id=mailbox_user_id, event_id=event_id, ical_uid=ical_uid or f"uid-{event_id}",
        organizer=organizer, attendees=tuple(Attendee(a, "required", "accepted") for a in attendees),
        start=start, end=start + timedelta(minutes=minutes),
    )  # fmt: skip
