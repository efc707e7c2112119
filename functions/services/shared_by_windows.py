"""What the ingestion windows of one process share: the tenant's directory (listed once per TTL), a slot
per mailbox (at most four windows of one mailbox at once), and the account pairs already written."""

from __future__ import annotations

import threading
import time

from functions.domain.interactions import Directory
from functions.services.ports.ingestion import GraphReader

DIRECTORY_TTL_SECONDS = 600.0
MAX_WINDOWS_PER_MAILBOX = 4  # each window has one request in flight: Outlook's 4 per mailbox


class DirectoryCache:
    """The tenant's users and verified domains (internal vs external), listed once per process and TTL."""

    def __init__(self, ttl_seconds: float = DIRECTORY_TTL_SECONDS) -> None:
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Directory]] = {}

    async def get(self, graph: GraphReader, tenant_id: str) -> Directory:
        with self._lock:
            cached = self._entries.get(tenant_id)
        if cached is not None and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        users = [user async for user in graph.list_users(tenant_id)]
        directory = Directory(users, await graph.verified_domains(tenant_id))
        with self._lock:
            self._entries[tenant_id] = (time.monotonic(), directory)
        return directory


class MailboxSlots:
    """At most `limit` windows of one mailbox run at once in this process (whatever the queue's batch)."""

    def __init__(self, limit: int = MAX_WINDOWS_PER_MAILBOX) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._slots: dict[tuple[str, str], threading.BoundedSemaphore] = {}

    def slot(self, tenant_id: str, user_id: str) -> threading.BoundedSemaphore:
        with self._lock:
            return self._slots.setdefault((tenant_id, user_id), threading.BoundedSemaphore(self._limit))


class AccountsWritten:
    """The (account, contact) pairs this process has written to the account index, per tenant and consent
    version, so that a backfill writes a pair about once instead of once for every window that names the
    contact (it was one in eight of a window's storage requests).

    Skipping a pair is safe only while its row still exists. Account rows are deleted by a tenant purge alone,
    and every tenant purge comes with a consent change (a withdrawal, a legacy consent's expiry) that raises
    the consent version, which is never reset. A window ingests under the version its fence read, so after a
    purge the pairs are remembered under an older version and written again. Memory stays flat: cleared when
    full (20,000 pairs, about 4 MiB; a tenant with more contacts than that writes some pairs again)."""

    def __init__(self, limit: int = 20_000) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._written: dict[tuple[str, int], set[tuple[str, str]]] = {}
        self._size = 0

    def unwritten(
        self, tenant_id: str, consent_version: int, pairs: set[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        with self._lock:
            return pairs - self._written.get((tenant_id, consent_version), set())

    def remember(self, tenant_id: str, consent_version: int, pairs: set[tuple[str, str]]) -> None:
        with self._lock:
            if self._size + len(pairs) > self._limit:
                self._written.clear()
                self._size = 0
            known = self._written.setdefault((tenant_id, consent_version), set())
            before = len(known)
            known |= pairs
            self._size += len(known) - before
