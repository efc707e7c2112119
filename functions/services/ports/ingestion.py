"""Ports of ingestion and the insights: Microsoft Graph, cursors and profiles, per-user slices, the contact
index, introductions and backups. Every one of them holds or reads `Interaction`s (functions/domain/
interactions.py): the stored forms are the adapters' business (functions/adapters/interaction_codec.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from functions.domain.health_config import HealthConfig
from functions.domain.ingestion import Cursor, UserProfile
from functions.domain.interactions import Interaction
from functions.domain.introductions import IntroductionRequest, IntroductionTemplate
from functions.domain.metadata import DirectoryUser, MeetingMeta, MessageMeta


class MessagesRound(Protocol):
    """One delta round of a mailbox: its pages, then the link the next round starts from."""

    @property
    def delta_link(self) -> str: ...

    def pages(self) -> AsyncIterator[list[MessageMeta]]: ...


class GraphReader(Protocol):
    """What the app reads from Microsoft Graph: metadata only, never bodies or subjects."""

    def list_users(self, tenant_id: str) -> AsyncIterator[DirectoryUser]: ...

    async def verified_domains(self, tenant_id: str) -> list[str]: ...

    def transitive_user_members(self, tenant_id: str, group_id: str) -> AsyncIterator[str]: ...

    def messages(
        self, tenant_id: str, user_id: str, start: datetime, end: datetime
    ) -> AsyncIterator[list[MessageMeta]]: ...

    def calendar_view(
        self, tenant_id: str, user_id: str, start: datetime, end: datetime
    ) -> AsyncIterator[list[MeetingMeta]]: ...

    def messages_delta(
        self, tenant_id: str, user_id: str, delta_link: str | None, since: datetime
    ) -> MessagesRound: ...

    async def aclose(self) -> None: ...


# One reader per event loop: each queue invocation runs its own loop, so services ask for a fresh one.
GraphFactory = Callable[[], GraphReader]


@dataclass(frozen=True, slots=True)
class TenantCursors:
    """One read of a tenant's cursors and profiles."""

    cursors: list[Cursor]
    profiles: dict[str, UserProfile]

    def of_user(self, user_id: str) -> list[Cursor]:
        return [c for c in self.cursors if c.user_id == user_id]


class CursorStore(Protocol):
    """Ingestion windows' cursors, and included users' directory profiles."""

    def tenant(self, tenant_id: str) -> TenantCursors: ...

    def failed(self, tenant_id: str) -> list[Cursor]: ...

    def profiles(self, tenant_id: str) -> dict[str, UserProfile]: ...

    def user(self, tenant_id: str, user_id: str) -> list[Cursor]:
        """One user's window cursors (a key range, not the whole tenant)."""
        ...

    def get(self, tenant_id: str, user_id: str, window: str) -> Cursor | None: ...

    def save(self, cursor: Cursor) -> None: ...

    def save_all(self, cursors: Iterable[Cursor]) -> None: ...

    def update_if_present(self, cursor: Cursor) -> bool:
        """Replace the cursor only if it still exists: a purge that deleted it must not see it again."""
        ...

    def delete(self, tenant_id: str, user_id: str, window: str) -> None: ...

    def create_all(self, cursors: list[Cursor]) -> bool:
        """Insert one user's new cursors all or none; False when any of them exists already."""
        ...

    def save_profiles(self, profiles: Iterable[UserProfile]) -> None: ...

    def delete_profiles(self, tenant_id: str, user_ids: Iterable[str]) -> int: ...


class SliceStore(Protocol):
    """Each user's interactions (one user, one partition: a user purge deletes one partition)."""

    def write(self, tenant_id: str, user_id: str, interactions: Sequence[Interaction], run: str) -> int:
        """Upsert, tagging each with the run that wrote it; the number written."""
        ...

    def interactions(self, tenant_id: str, user_id: str) -> Iterator[Interaction]: ...

    def interactions_of_run(self, tenant_id: str, user_id: str, run: str) -> list[Interaction]: ...

    def meetings_after(self, tenant_id: str, user_id: str, after: datetime) -> list[Interaction]:
        """The user's stored meetings starting after `after` (the plans a read ahead replaces)."""
        ...

    def delete_interactions(
        self, tenant_id: str, user_id: str, interactions: Iterable[Interaction]
    ) -> int: ...


class ContactStore(Protocol):
    """The contact index: a copy of every slice's interactions, keyed by contact."""

    def write(self, tenant_id: str, interactions: Iterable[Interaction], run: str) -> int: ...

    def interactions(self, tenant_id: str, contact: str) -> list[Interaction]: ...

    def delete_interactions(self, tenant_id: str, interactions: Iterable[Interaction]) -> int: ...


class IntroductionStore(Protocol):
    def record(self, request: IntroductionRequest) -> IntroductionRequest: ...

    def template(self, tenant_id: str) -> IntroductionTemplate | None: ...

    def save_template(self, tenant_id: str, template: IntroductionTemplate, at: datetime) -> None: ...


class AccountStore(Protocol):
    """Which contacts (hashes) belong to an account (a hashed external domain)."""

    def add(self, tenant_id: str, pairs: Iterable[tuple[str, str]]) -> int:
        """Record (account hash, contact hash) pairs; recording one again changes nothing."""
        ...

    def contacts(self, tenant_id: str, account: str) -> list[str]: ...


class SettingsStore(Protocol):
    """A tenant's insight settings (health weights, grade bounds, cadence)."""

    def insight_settings(self, tenant_id: str) -> HealthConfig | None: ...

    def save_insight_settings(
        self, tenant_id: str, config: HealthConfig, at: datetime, actor_id: str | None
    ) -> None: ...


class BackupStore(Protocol):
    """Daily backups of each user's interactions; one user of one tenant is one prefix."""

    def write(self, tenant_id: str, user_id: str, day: date, interactions: Iterable[Interaction]) -> int: ...

    def read(self, tenant_id: str, user_id: str, day: date) -> list[Interaction]: ...

    def delete(self, tenant_id: str, user_id: str, day: date) -> int: ...

    def users_with_backup(self, tenant_id: str, day: date) -> list[str]: ...
