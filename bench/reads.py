"""(d) Insight reads for a tenant with 10,000 contacts: p50 / p99 of both routes, over HTTP.

The stores are seeded directly (consent granted, 40 user profiles, 10,000 contacts with 1-40 interactions
each from several colleagues, Zipf-like), then the app runs in the local host (`python -m devhost run`, its
own process) and each lookup route (POST, the form clients should use) is called sequentially with a valid
token for random contacts, timed by the client (so HTTP, token validation and JSON are included). The first
calls warm up the host and are not counted.
"""

from __future__ import annotations

import random
import statistics
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from bench.framework import Context, Figure
from bench.ingest import storage
from bench.ingest_probe import SimulatorAddress
from devhost.process import HostProcess
from functions.domain.contacts import contact_hash
from functions.domain.ingestion import UserProfile
from functions.domain.interactions import Interaction, digest
from graphsim.server import GraphSimulator
from tests.support.apphost import app_host_env
from tests.support.consent_client import Identity
from tests.support.ingestion_rig import Rig

TITLE = "(d) insight reads: p50/p99 for a tenant with 10,000 contacts"
CONTACTS = 10_000
USERS = 40
CALLS = 400
WARM_UP = 40
TARGET_P99_MS = 50.0
HASH_KEY = "bench-contact-hash-key-of-32-bytes-or-more"


@dataclass(frozen=True, slots=True)
class Seeded:
    tenant_id: str
    addresses: list[str]
    rows: int


def seed(ctx: Context, now: datetime) -> Seeded:
    tenant = str(uuid.uuid4())
    address = cast("GraphSimulator", SimulatorAddress("http://127.0.0.1:9/v1.0", "unused"))
    rig = Rig(storage(ctx), address, tenant, now=now)
    rig.grant()
    users = [str(uuid.UUID(int=random.getrandbits(128), version=4)) for _ in range(USERS)]
    rig.cursors.save_profiles(
        UserProfile(tenant, u, f"Colleague {i}", f"c{i}@contoso.com", f"c{i}@contoso.com",
                    present=True, seen_at=now)
        for i, u in enumerate(users)
    )  # fmt: skip
    addresses = [f"person{i}@customer{i % 97}.example" for i in range(CONTACTS)]
    rows = 0
    batch: list[Interaction] = []
    for rank, addr in enumerate(addresses):
        hashed = contact_hash(HASH_KEY.encode(), tenant, addr)
        count = max(1, min(40, int(40 / (1 + rank) ** 0.35)))
        batch.extend(_interaction(hashed, random.choice(users), f"{rank}-{n}", now) for n in range(count))
        if len(batch) >= 5000:
            rows += rig.contacts.write(tenant, batch, "bench-seed")
            batch = []
    rows += rig.contacts.write(tenant, batch, "bench-seed")
    return Seeded(tenant, addresses, rows)


def _interaction(contact: str, user: str, key: str, now: datetime) -> Interaction:
    sent = random.random() < 0.5
    meeting = random.random() < 0.2
    return Interaction(
        key=digest("bench", key), kind="meeting" if meeting else "email", user_id=user, contact=contact,
        at=now - timedelta(minutes=random.randint(60, 360 * 24 * 60)),
        direction="sent" if sent else "received",
        user_role=("organizer" if sent else "attendee") if meeting else ("author" if sent else "reader"),
        contact_role=("attendee" if sent else "organizer") if meeting else ("reader" if sent else "author"),
        conversation="" if meeting else digest("conv", key.split("-", 1)[0]),
        minutes=30.0 if meeting else 0.0,
    )  # fmt: skip


def latencies(host: HostProcess, path: str, addresses: list[str], authorization: str) -> list[float]:
    timings = []
    for call in range(CALLS + WARM_UP):
        contact = random.choice(addresses)
        started = time.perf_counter()
        response = host.post(path, json={"contact": contact}, headers={"Authorization": authorization})
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}: {response.text}")
        if call >= WARM_UP:
            timings.append(elapsed)
    return timings


def run(ctx: Context) -> list[Figure]:
    random.seed(4)
    now = datetime.now().astimezone()
    started = time.perf_counter()
    seeded = seed(ctx, now)
    seconds = time.perf_counter() - started
    ctx.say(f"seeded {CONTACTS:,} contacts ({seeded.rows:,} interactions) in {seconds:.0f} s")
    figures = []
    with Identity() as identity:
        env = app_host_env(
            ctx.azurite().connection_string, CONTACT_HASH_KEY=HASH_KEY, **identity.host_settings()
        )  # fmt: skip
        host = HostProcess(env)
        ctx.add_cleanup(host.close)
        host.start()
        reader = identity.tokens.authorization(
            seeded.tenant_id, roles=["Insights.Read"], lifetime=timedelta(hours=2)
        )
        for route, label in (("relationships", "relationships"), ("who-knows-whom", "who-knows-whom")):
            path = f"/api/tenants/{seeded.tenant_id}/{route}/lookup"
            timings = latencies(host, path, seeded.addresses, reader)
            p50 = statistics.median(timings)
            p99 = statistics.quantiles(timings, n=100)[98]
            ctx.say(f"{label}: p50 {p50:.1f} ms, p99 {p99:.1f} ms over {len(timings)} calls")
            figures += [
                Figure(f"POST {label}/lookup, p50 (10k contacts)", p50, "ms"),
                Figure(f"POST {label}/lookup, p99 (10k contacts)", p99, "ms", TARGET_P99_MS, "<="),
            ]
        host.close()
    return figures
