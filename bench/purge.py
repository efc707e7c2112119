"""(e) Purge: a tenant of 200,000+ live entities plus backups, deleted and verified; deleting one entity at a
time for the baseline (same run); a user purge inside the large tenant.

Rows are those the stores write (`interaction_codec.to_entity` for slices and the contact index, cursors, one
backup blob per user), seeded with raw insert changesets for speed. Then:
1. one at a time: 3,000 slice rows of another tenant, in the same (full) tables, listed then deleted with one
   `delete_entity` each;
2. a user purge in the large tenant (its partition of slices, its rows in the tenant-wide contact index, its
   cursors and backups), time to verified;
3. the tenant purge: the purge function's first pass (live data, backups by prefix, verification over every
   store), time to verified deletion and live entities per second;
4. the same comparison in a second, fresh Azurite: after a small warm-up round, three rounds of an
   8,000-entity tenant purged against 2,000 rows deleted one at a time. The speed-up target (20x) is checked
   there, on the ratio of the medians. Each round also measures the emulator's ceiling: another tenant's
   slice and contact rows, keys listed beforehand (untimed), deleted with nothing but changesets of 100; and
   Azurite's own CPU per entity for each method (from /proc).

Why two comparisons: Azurite keeps each table in a LokiJS collection with binary indices on PartitionKey and
RowKey, and every delete walks both indices (JS loops over every row of the table): measured here at about
17 ns per row of the table per delete, so about 1.7 ms per delete in a 100,000-row table, whatever the client
sends. That floor is the same for both methods and caps the speed-up in the large tables. Azure Table Storage
has no per-delete cost that grows with the table; the fresh Azurite, with small tables, shows what the client
side gains (fewer round trips, many in flight).

Why a ceiling: in a changeset Azurite still spends about 70-80 us of its single thread per entity (profiled:
LokiJS `findOne` on the keys and `remove` with its index upkeep are most of it), while one `delete_entity`
at a time costs about 1.4 ms, mostly the SDK's own Python. So even a purge that only sent deletes could be
about 20x faster here, no more; the purge also lists the keys it deletes (each Azurite page query scans and
sorts the whole table), which is the rest of the gap.
"""

from __future__ import annotations

import json
import math
import statistics
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from azure.core.rest import HttpRequest
from azure.data.tables import TableClient

from bench.framework import Context, Figure
from devhost.azurite import Azurite
from functions.adapters import interaction_codec, table_batch
from functions.adapters.backup_store import BlobBackupStore
from functions.adapters.contact_store import TableContactStore, contact_partition, contact_row_key
from functions.adapters.cursor_store import TableCursorStore
from functions.adapters.purge_registry import purge_stores
from functions.adapters.purge_store import TablePurgeStore
from functions.adapters.slice_store import TableSliceStore, slice_partition
from functions.adapters.storage import StorageClients
from functions.bootstrap import Container
from functions.domain.events import Provenance
from functions.domain.ingestion import Cursor
from functions.domain.purge import PurgeRecord, new_purge
from functions.domain.scope import Scope
from functions.services.purge import PurgeService
from functions.settings import storage_settings
from tests.support.container import app_settings
from tests.support.memory_stores import MemoryQueues
from tests.support.purge_data import interactions
from tests.support.purge_fakes import StaticMembers

TITLE = "(e) purge: 200,000+ entities plus backups, against one-at-a-time deletion"
USERS = 400
INTERACTIONS_PER_USER = 250  # a slice row + a contact-index row each: 400 x 250 x 2 = 200,000, plus cursors
SMALL_USERS = 16  # the fresh-Azurite tenant: 16 x 250 x 2 = 8,000 entities
BASELINE_USERS = 12  # 12 x 250 = 3,000 slice rows deleted one at a time in the large tables
SMALL_BASELINE_USERS = 8  # 8 x 250 = 2,000 rows one at a time in the fresh Azurite
ROUNDS = 3  # the fresh comparison's figures are medians over this many rounds
TARGET_SPEEDUP = 20.0
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
DAY = date(2026, 11, 26)


def run(ctx: Context) -> list[Figure]:
    storage = _storage(ctx.azurite())
    stores = purge_stores(storage)
    tenant, baseline_tenant = str(uuid.uuid4()), str(uuid.uuid4())
    users = [str(uuid.uuid4()) for _ in range(USERS)]
    started = time.monotonic()
    seed(storage, tenant, users)
    seed(storage, baseline_tenant, _ids(BASELINE_USERS), backups=False)
    live = sum(store.count_scope(Scope("tenant", tenant)) for store in stores.live)
    blobs = sum(store.count_scope(Scope("tenant", tenant)) for store in stores.backups)
    ctx.say(f"seeded {live:,} live entities and {blobs} backup blobs in {time.monotonic() - started:.0f} s")

    big_baseline = baseline(storage, baseline_tenant)
    ctx.say(f"one at a time in the same tables: {big_baseline:,.0f} entities/s")
    service = purge_container(storage).purge_service
    user_seconds, user_record = purge(service, storage, Scope("user", tenant, user_id=users[0]))
    ctx.say(f"user purge: {_described(user_record)} in {user_seconds:.2f} s")
    tenant_seconds, record = purge(service, storage, Scope("tenant", tenant))
    live_deleted, live_rate = _live_rate(record)
    ctx.say(f"tenant purge: {_described(record)} in {tenant_seconds:.1f} s")
    ctx.say("steps: " + ", ".join(f"{s.name} {s.duration_ms} ms" for s in record.steps))

    fresh = fresh_comparison(ctx)
    fresh_rate, fresh_baseline = fresh.median("purge_rate"), fresh.median("baseline_rate")
    purge_cpu, baseline_cpu = fresh.median("purge_cpu_us"), fresh.median("baseline_cpu_us")
    ceiling = fresh.median("changeset_rate")
    rounds = f"median of {ROUNDS} rounds"
    return [
        Figure("purge: live entities in the tenant", float(live), "entities", 200_000, ">="),
        Figure("purge: tenant, withdrawal to verified deletion", tenant_seconds, "s",
               detail=f"{live_deleted:,} live entities, {record.counts.get('backups', 0)} backup blobs"),
        Figure("purge: live deletion rate, 200k tenant", live_rate, "entities/s"),
        Figure("purge: one at a time, same 100k-row tables", big_baseline, "entities/s",
               detail="3,000-row sample; Azurite's per-delete index walk dominates both"),
        Figure("purge: speed-up, 100k-row tables (emulator-bound)", live_rate / big_baseline, "x"),
        Figure("purge: live deletion rate, 8k tenant, fresh Azurite", fresh_rate, "entities/s",
               detail=rounds),
        Figure("purge: one at a time, fresh Azurite", fresh_baseline, "entities/s",
               detail=f"2,000 rows, {rounds}"),
        Figure("purge: speed-up over one at a time (fresh Azurite)", fresh_rate / fresh_baseline, "x",
               TARGET_SPEEDUP, ">=", detail=f"ratio of the medians; rounds {fresh.speedups}"),
        Figure("purge: changesets only, keys known beforehand (emulator ceiling)", ceiling, "entities/s",
               detail=f"{rounds}; no listing, no purge bookkeeping"),
        Figure("purge: ceiling over one at a time", ceiling / fresh_baseline, "x"),
        Figure("purge: Azurite CPU per entity, purge", fresh.median("azurite_purge_us"), "us", detail=rounds),
        Figure("purge: Azurite CPU per entity, one at a time", fresh.median("azurite_baseline_us"), "us",
               detail=rounds),
        Figure("purge: client CPU per entity, purge (fresh Azurite)", purge_cpu, "us", detail=rounds),
        Figure("purge: client CPU per entity, one at a time", baseline_cpu, "us", detail=rounds),
        Figure("purge: client CPU, one at a time / purge", baseline_cpu / purge_cpu, "x"),
        Figure("purge: one user in the 200k tenant, to verified", user_seconds, "s",
               detail=_described(user_record)),
    ]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Round:
    purge_rate: float  # live entities per second, the purge service's live step
    baseline_rate: float  # one `delete_entity` at a time
    changeset_rate: float  # keys known beforehand, nothing but changesets of deletes: the emulator's ceiling
    purge_cpu_us: float  # this process's CPU per entity (the client side's own cost)
    baseline_cpu_us: float
    azurite_purge_us: float  # Azurite's CPU per entity purged (NaN where /proc cannot be read)
    azurite_baseline_us: float

    @property
    def speedup(self) -> float:
        return self.purge_rate / self.baseline_rate


@dataclass(frozen=True, slots=True)
class FreshComparison:
    """Medians over `ROUNDS` rounds, each a purge then a one-at-a-time deletion, after a warm-up round."""

    rounds: tuple[Round, ...]

    def median(self, field: str) -> float:
        return float(statistics.median(getattr(r, field) for r in self.rounds))

    @property
    def speedups(self) -> str:
        return ", ".join(f"{r.speedup:.1f}x" for r in self.rounds)


def fresh_comparison(ctx: Context) -> FreshComparison:
    """8,000-entity tenants purged, and 2,000 rows deleted one at a time, in an Azurite of their own.

    A warm-up round first (both methods, small, not counted): the first requests of a kind in a new Azurite
    run through Node's JIT compiler and were measured here at up to 1.5x the steady cost per entity.
    """
    azurite = Azurite()
    ctx.add_cleanup(azurite.cleanup)
    azurite.start()
    try:
        storage = _storage(azurite)
        service = purge_container(storage).purge_service
        _round(azurite, service, storage, users=2, baseline_users=1)
        rounds = tuple(
            _round(azurite, service, storage, users=SMALL_USERS, baseline_users=SMALL_BASELINE_USERS)
            for _ in range(ROUNDS)
        )
        for number, r in enumerate(rounds, 1):
            ctx.say(
                f"fresh Azurite round {number}: purge {r.purge_rate:,.0f} entities/s, one at a time "
                f"{r.baseline_rate:,.0f} entities/s ({r.speedup:.1f}x), changesets only "
                f"{r.changeset_rate:,.0f} entities/s ({r.changeset_rate / r.baseline_rate:.1f}x)"
            )
        return FreshComparison(rounds)
    finally:
        azurite.stop()


def _round(
    azurite: Azurite, service: PurgeService, storage: StorageClients, *, users: int, baseline_users: int
) -> Round:
    tenant, baseline_tenant, bare_tenant = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    seed(storage, tenant, _ids(users))
    seed(storage, baseline_tenant, _ids(baseline_users), backups=False)
    cpu, emulator = time.process_time(), azurite.cpu_seconds()
    _, record = purge(service, storage, Scope("tenant", tenant))
    purged = max(sum(record.counts.values()), 1)
    purge_cpu, azurite_purge = (time.process_time() - cpu) / purged, _since(azurite, emulator) / purged
    cpu, emulator = time.process_time(), azurite.cpu_seconds()
    one_by_one = baseline(storage, baseline_tenant)
    rows = baseline_users * INTERACTIONS_PER_USER
    baseline_cpu, azurite_baseline = (time.process_time() - cpu) / rows, _since(azurite, emulator) / rows
    seed(storage, bare_tenant, _ids(users), backups=False)  # now: the tables were as small for the others
    return Round(
        _live_rate(record)[1],
        one_by_one,
        changesets_only(storage, bare_tenant),
        purge_cpu * 1e6,
        baseline_cpu * 1e6,
        azurite_purge * 1e6,
        azurite_baseline * 1e6,
    )


def changesets_only(storage: StorageClients, tenant_id: str) -> float:
    """Entities per second deleting the tenant's slice and contact rows with keys listed beforehand (untimed):
    only changesets of 100 deletes, four in flight. No purge can beat this on the same emulator."""
    tables = [storage.table(TableSliceStore.name), storage.table(TableContactStore.name)]
    low, high = table_batch.prefix_range(f"{tenant_id}_")
    keys = [
        (table, list(table_batch.query_keys(table, "PartitionKey ge @low and PartitionKey lt @high",
                                            {"low": low, "high": high})))
        for table in tables
    ]  # fmt: skip
    start = time.monotonic()
    deleted = sum(table_batch.delete_keys(table, listed, workers=4) for table, listed in keys)
    return deleted / (time.monotonic() - start)


def _since(azurite: Azurite, before: float | None) -> float:
    now = azurite.cpu_seconds()
    return math.nan if now is None or before is None else now - before


def seed(storage: StorageClients, tenant_id: str, users: list[str], *, backups: bool = True) -> None:
    """The rows ingestion and the backup job would leave: slices, the contact index, cursors, backups."""
    slices, contacts = storage.table(TableSliceStore.name), storage.table(TableContactStore.name)
    backup_store, cursors = BlobBackupStore(storage), TableCursorStore(storage)
    slice_rows: list[dict[str, Any]] = []
    contact_rows: dict[tuple[str, str], dict[str, Any]] = {}
    for user in users:
        written = interactions(user, INTERACTIONS_PER_USER, contacts=50, salt=tenant_id)
        partition = slice_partition(tenant_id, user)
        slice_rows += [interaction_codec.to_entity(f, partition, f.record_key, "bench") for f in written]
        for f in written:
            key = (contact_partition(tenant_id, f.contact), contact_row_key(f))
            contact_rows[key] = interaction_codec.to_entity(f, key[0], key[1], "bench")
        if backups:
            backup_store.write(tenant_id, user, DAY, written)
    raw_upsert(slices, slice_rows)
    raw_upsert(contacts, (contact_rows[key] for key in sorted(contact_rows)))
    cursors.save_all(
        Cursor(tenant_id, user, "2026-10", NOW - timedelta(days=60), NOW, "succeeded", NOW) for user in users
    )


def raw_upsert(table: TableClient, entities: Iterable[dict[str, Any]]) -> None:
    """Insert-or-replace in changesets of 100 per partition, written as text (the bench's seeding only)."""
    chunks = table_batch._chunks(entities, lambda e: str(e["PartitionKey"]))
    table_batch._run_bounded(lambda chunk: _send_upserts(table, chunk), chunks, table_batch.DEFAULT_WORKERS)


def _send_upserts(table: TableClient, chunk: list[dict[str, Any]]) -> None:
    base = f"{table.scheme}://{table._primary_hostname}"
    batch, changeset = f"batch_{uuid.uuid4()}", f"changeset_{uuid.uuid4()}"
    parts = [f"--{batch}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n"]
    for entity in chunk:
        body = json.dumps(dict(_json_properties(entity)))
        pk, rk = table_batch._key(entity["PartitionKey"]), table_batch._key(entity["RowKey"])
        key = f"PartitionKey='{pk}',RowKey='{rk}'"
        parts.append(
            f"--{changeset}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
            f"PUT {base}/{table.table_name}({key}) HTTP/1.1\r\nContent-Type: application/json\r\n"
            f"Accept: application/json;odata=minimalmetadata\r\nDataServiceVersion: 3.0\r\n\r\n{body}\r\n"
        )
    parts.append(f"--{changeset}--\r\n--{batch}--\r\n")
    request = HttpRequest(
        "POST", f"{base}/$batch", content="".join(parts).encode("utf-8"),
        headers={"x-ms-version": table.api_version, "DataServiceVersion": "3.0",
                 "MaxDataServiceVersion": "3.0;NetFx", "Content-Type": f"multipart/mixed; boundary={batch}"},
    )  # fmt: skip
    response = table._client.send_request(request, stream=True)  # type: ignore[attr-defined]
    body = response.read()
    if response.status_code != 202 or b" 204 " not in body:
        raise RuntimeError(f"seeding failed: {response.status_code} {body[:300]!r}")


def _json_properties(entity: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for name, value in entity.items():
        if isinstance(value, datetime):
            yield f"{name}@odata.type", "Edm.DateTime"
            yield name, value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        else:
            yield name, value


def baseline(storage: StorageClients, tenant_id: str) -> float:
    """Entities per second deleting the tenant's slice rows the naive way: list, then one request each."""
    table = storage.table(TableSliceStore.name)
    low, high = table_batch.prefix_range(f"{tenant_id}_")
    start = time.monotonic()
    keys = [
        (row["PartitionKey"], row["RowKey"])
        for row in table.query_entities(
            "PartitionKey ge @low and PartitionKey lt @high",
            parameters={"low": low, "high": high},
            select=["PartitionKey", "RowKey"],
        )
    ]
    for partition_key, row_key in keys:
        table.delete_entity(partition_key, row_key)
    return len(keys) / (time.monotonic() - start)


def purge(service: PurgeService, storage: StorageClients, scope: Scope) -> tuple[float, PurgeRecord]:
    """The purge function's first pass (what one delivery does): seconds to verified zero, the record."""
    provenance = Provenance("bench", f"bench-{uuid.uuid4()}", NOW, "api", NOW)
    record, _ = TablePurgeStore(storage).create(new_purge(scope, "consent-revoked", provenance))
    start = time.monotonic()
    run = service.run(record.tenant_id, record.id, lambda: NOW)
    seconds = time.monotonic() - start
    if run.record is None or run.record.status != "verified" or any((run.record.verification or {}).values()):
        raise RuntimeError(f"the purge did not verify zero: {run.record}")
    return seconds, run.record


def _live_rate(record: PurgeRecord) -> tuple[int, float]:
    step = next(s for s in record.steps if s.name == "live-deleted")
    deleted = sum(step.counts.values())
    return deleted, deleted / max((step.duration_ms or 1) / 1000, 1e-3)


def _storage(azurite: Azurite) -> StorageClients:
    return StorageClients(storage_settings({"AzureWebJobsStorage": azurite.connection_string}))


def _ids(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


def _described(record: PurgeRecord) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in record.counts.items())


def purge_container(storage: StorageClients) -> Container:
    """The app's wiring on this Azurite; nothing resolves groups or resumes ingestion in these rounds."""
    return Container(
        app_settings(), storage=storage, member_resolver=StaticMembers(), work_queues=MemoryQueues(),
        purge_completed=lambda _record, _at: False,
    )  # fmt: skip
