"""Restoring a backup re-applies every purge recorded since (in-memory stores; tools/restore.py on Azurite is
tests/integration/test_purge_restore.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest

from functions.domain.errors import AppError, StorageUnavailable
from functions.domain.events import Provenance
from functions.domain.purge import PurgeRecord, new_purge
from functions.domain.scope import Scope
from functions.services.purge import PurgeIncomplete
from functions.services.restore import RestoreService
from tests.support.container import PurgeWorld

DAY = date(2026, 11, 20)
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


class FirstReapplicationFails:
    """The purge service's `reapply`, except that the first purge it is given fails with `error`."""

    def __init__(self, error: AppError) -> None:
        self.error = error
        self.asked: list[str] = []

    def reapply(self, record: PurgeRecord, at: datetime) -> dict[str, int]:
        self.asked.append(record.id)
        if len(self.asked) == 1:
            raise self.error
        return {"slices": 1}


@pytest.mark.parametrize(
    "failure",
    [PurgeIncomplete("re-applying it left slices 1"), StorageUnavailable("storage did not answer")],
    ids=["left-something", "storage-failed"],
)
def test_a_purge_that_cannot_be_reapplied_does_not_stop_the_purges_after_it(failure: AppError) -> None:
    """Tried: of two user purges requested after the backup's day, re-applying the older one leaves something,
    or storage fails. The younger must be re-applied all the same, and the restore still says it is
    unfinished."""
    world = PurgeWorld(NOW)
    tenant = str(uuid.uuid4())
    purges = []
    for hour in (1, 2):
        at = datetime(2026, 11, 21, hour, tzinfo=UTC)
        provenance = Provenance(None, f"evt-{uuid.uuid4()}", at, "webhook", at)
        scope = Scope("user", tenant, user_id=str(uuid.uuid4()))
        purges.append(world.ledger.put(new_purge(scope, "user-opt-out", provenance)))
    purge: Any = FirstReapplicationFails(failure)
    c = world.container
    restore = RestoreService(
        c.backup_store, c.slice_store, c.contact_store, c.account_store,
        purges=c.purge_store, purge=purge, inclusion=c.inclusion, audit=c.audit_log,
    )  # fmt: skip

    with pytest.raises(PurgeIncomplete, match="every other purge was re-applied"):
        restore.restore(tenant, DAY, NOW)

    assert purge.asked == [p.id for p in purges]
