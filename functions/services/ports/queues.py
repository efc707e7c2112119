"""The work queues: purges, ingestion windows, and the coalesced requests about a whole tenant."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

RequestKind = Literal["schedule", "membership", "subscriptions"]


class WorkQueues(Protocol):
    def enqueue_purge(self, tenant_id: str, purge_id: str) -> None: ...

    def enqueue_windows(self, messages: Iterable[dict[str, Any]]) -> None:
        """Queue ingestion windows (one message each, so the work fans out)."""
        ...

    def request_ingestion(self, tenant_id: str, now: datetime) -> bool:
        """Ask ingestion to schedule the tenant now; False when such a request is already pending."""
        ...

    def request_membership(self, tenant_id: str, now: datetime) -> bool:
        """Ask for the tenant's opted-out groups to be resolved now; False when already pending."""
        ...

    def request_refresh(self, tenant_id: str, user_id: str, now: datetime, delay_seconds: int) -> bool:
        """Ask for one delta round of the user, run after `delay_seconds`; False when one is pending (the
        notifications of a burst coalesce into it)."""
        ...

    def refresh_taken(self, tenant_id: str, user_id: str) -> None:
        """The refresh of the user starts: a notification from now on asks for another."""
        ...

    def request_subscription_sync(self, tenant_id: str, now: datetime) -> bool:
        """Ask for the tenant's subscriptions to be reconciled now; False when already pending."""
        ...

    def taken(self, kind: RequestKind, tenant_id: str) -> None:
        """A worker starts on the tenant's pending request of `kind`: later requests send again."""
        ...

    def poison(self, queue: str, body: str) -> None:
        """Put a message its function cannot read on `<queue>-poison`, as it came."""
        ...


@dataclass(frozen=True, slots=True)
class PurgeMessage:
    tenant_id: str
    purge_id: str


class PurgeRedrive(Protocol):
    """The maintenance timer's view of the `purges` queue."""

    def enqueue(self, tenant_id: str, purge_id: str) -> None: ...

    def requeue_poison(self, keep: Callable[[PurgeMessage], bool]) -> list[PurgeMessage]:
        """Move poison messages back (those `keep` accepts; the others are deleted as done); unreadable
        ones stay in the poison queue. Returns the messages moved back."""
        ...
