"""Reading the interactions of the inclusion decision (`functions.domain.inclusion`) from the stores.

Two shapes of read, the same decision: `tenant(t, now)` for a caller that asks about many users (scheduling,
backups, insights, restore) reads every opt-out and member row once; `user(t, u, now)` for the ingestion
fence, taken before every write of a window, reads one user's rows only. Both read the unfinished purges,
since a scope whose purge is unfinished is held.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from functions.domain.inclusion import Fence, TenantInclusion
from functions.services.ports.consent import ConsentStore, OptOutStore
from functions.services.ports.purge import PurgeLedger

_READ_THREADS = 8  # the reads of one decision are independent: issued at once they cost the slowest


class InclusionReader:
    def __init__(self, consents: ConsentStore, optouts: OptOutStore, purges: PurgeLedger) -> None:
        self._consents, self._optouts, self._purges = consents, optouts, purges
        self._pool = ThreadPoolExecutor(max_workers=_READ_THREADS, thread_name_prefix="inclusion-read")

    def tenant(self, tenant_id: str, now: datetime) -> TenantInclusion:
        """Every interaction of the tenant: ask it about any number of its users."""
        t = tenant_id.lower()
        consent = self._pool.submit(self._consents.load, t)
        optouts = self._pool.submit(self._optouts.snapshot, t)
        purges = self._pool.submit(self._purges.unfinished_of, t)
        snapshot = optouts.result()
        return TenantInclusion.of(
            consent.result().consent,
            snapshot.groups,
            snapshot.users,
            snapshot.membership,
            purges.result(),
            now,
        )

    def user(self, tenant_id: str, user_id: str, now: datetime) -> TenantInclusion:
        """The interactions that decide one user (ask it about that user only)."""
        t, u = tenant_id.lower(), user_id.lower()
        consent = self._pool.submit(self._consents.load, t)
        groups = self._pool.submit(self._optouts.load_groups, t)
        user = self._pool.submit(self._optouts.load_user, t, u)
        membership = self._pool.submit(self._optouts.membership_of, t, u)
        purges = self._pool.submit(self._purges.unfinished_of, t)
        stored_user = user.result().user
        return TenantInclusion.of(
            consent.result().consent,
            groups.result().groups,
            [] if stored_user is None else [stored_user],
            membership.result(),
            purges.result(),
            now,
        )

    def fence(self, tenant_id: str, user_id: str, now: datetime) -> Fence:
        return self.user(tenant_id, user_id, now).fence(user_id)
