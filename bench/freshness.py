"""(g) Freshness: how long from a new message in the simulator to the relationship KPIs showing it, with
change notifications on, and what it costs in Graph requests next to the daily delta run.

A synthetic tenant is granted and ingested through the local host (its own process, the real queues and
workers, `REFRESH_COALESCE_SECONDS` at its default), then subscribed by the renewal timer. Then, one at a
time, a user of the tenant sends a new message to a contact (the simulator's control route, which posts
Graph's basic notification to the host) and the contact's KPIs are read over HTTP until `emailsSent` counts
it. The Graph requests of those refreshes are counted by the simulator.

The baseline, measured in the same run: one daily scheduling run (the incremental delta round of every
user, which is what found a new message before, once a day) and its Graph requests per user.
"""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench.framework import Context, Figure
from devhost.azurite import free_port
from devhost.process import HostProcess
from graphsim.generate import TenantSpec
from graphsim.server import GraphSimulator
from graphsim.tenant import Tenant
from tests.support.apphost import app_host_env
from tests.support.consent_client import Identity

TITLE = "(g) freshness: a new message to the KPIs showing it, with change notifications"
SPEC = TenantSpec(
    seed=41, users=10, external_contacts=30, messages_per_user_per_month=6, meetings_per_user_per_month=1
)
MESSAGES = 20
TARGET_SECONDS = 60.0


def run(ctx: Context) -> list[Figure]:
    tenant = Tenant(SPEC)
    tenant_id = tenant.tenant_id.lower()
    port = free_port()
    with Identity() as identity, GraphSimulator(tenant) as sim:
        env = app_host_env(
            ctx.azurite().connection_string, GRAPH_BASE_URL=sim.graph_url, GRAPH_STATIC_TOKEN=sim.token,
            GRAPH_NOTIFICATIONS="on", GRAPH_NOTIFICATION_URL=f"http://127.0.0.1:{port}/api",
            **identity.host_settings(),
            # Poll idle queues as host.json has the Functions host do (tests poll faster).
            DEVHOST_QUEUE_POLL_INTERVAL_SECONDS="2",
        )  # fmt: skip
        host = HostProcess(env, port=port)
        ctx.add_cleanup(host.close)
        host.start()
        lifetime = timedelta(hours=2)
        manage = {"Authorization": identity.tokens.authorization(
            tenant_id, roles=["Consent.Manage"], oid=str(uuid.uuid4()), lifetime=lifetime)}  # fmt: skip
        reader = {"Authorization": identity.tokens.authorization(
            tenant_id, roles=["Insights.Read"], oid=str(uuid.uuid4()), lifetime=lifetime)}  # fmt: skip
        _ok(host.put(f"/api/tenants/{tenant_id}/consent", headers=manage))
        host.wait_for_queues_idle(timeout=600)
        _fired(host, "ingestion_schedule")  # the incremental windows: what the daily run does from now on
        host.wait_for_queues_idle(timeout=600)
        _fired(host, "subscriptions_sync")
        subscriptions = len(_control(sim, "GET", "/_sim/subscriptions")["value"])
        users = [u for u in tenant.users() if u.mail]
        ctx.say(f"{len(users)} mailboxes ingested and subscribed ({subscriptions} subscriptions)")

        def emails_sent(contact: str) -> int:
            answer = host.get(
                f"/api/tenants/{tenant_id}/relationships", params={"contact": contact}, headers=reader
            )
            return int(_ok(answer)["emailsSent"]) if answer.status_code == 200 else 0

        _control(sim, "POST", "/_sim/stats/reset")
        seconds = []
        for index in range(MESSAGES):
            user = users[index % len(users)]
            contact = tenant.contacts[index % len(tenant.contacts)].address
            before = emails_sent(contact)
            started = time.perf_counter()
            _control(sim, "POST", "/_sim/mail", json={"from": user.mail, "to": [contact],
                                                       "at": datetime.now(UTC).isoformat()})  # fmt: skip
            while emails_sent(contact) <= before:
                if time.perf_counter() - started > 3 * TARGET_SECONDS:
                    raise RuntimeError(f"message {index} did not show within {3 * TARGET_SECONDS:.0f} s")
                time.sleep(0.1)
            seconds.append(time.perf_counter() - started)
        host.wait_for_queues_idle(timeout=120)
        refresh_requests = _requests(sim)

        _control(sim, "POST", "/_sim/stats/reset")
        started = time.perf_counter()
        _fired(host, "ingestion_schedule")
        host.wait_for_queues_idle(timeout=600)
        daily_seconds = time.perf_counter() - started
        daily_requests = _requests(sim)
        host.close()
    per_message = refresh_requests / MESSAGES
    per_user_daily = daily_requests / len(users)
    ctx.say(
        f"{MESSAGES} messages: shown after median {statistics.median(seconds):.1f} s "
        f"(max {max(seconds):.1f} s); "
        f"{per_message:.1f} Graph requests per message; the daily run: {daily_requests} requests "
        f"({per_user_daily:.1f} per user) in {daily_seconds:.1f} s"
    )
    return [
        Figure("freshness: new message to KPIs, median", statistics.median(seconds), "s"),
        Figure(
            "freshness: new message to KPIs, max",
            max(seconds),
            "s",
            TARGET_SECONDS,
            "<=",
            detail="before: the next daily delta run (up to 24 h)",
        ),
        Figure("freshness: Graph requests per notified message", per_message, "requests"),
        Figure("baseline: Graph requests of the daily delta run, per user", per_user_daily, "requests"),
    ]


def _fired(host: HostProcess, name: str) -> None:
    outcome = host.fire(name)
    if outcome.get("outcome") != "Succeeded":
        raise RuntimeError(f"{name} failed: {outcome}")


def _ok(response: httpx.Response) -> Any:
    if response.status_code not in (200, 202):
        raise RuntimeError(f"{response.request.url} answered {response.status_code}: {response.text}")
    return response.json()


def _control(sim: GraphSimulator, method: str, path: str, **kwargs: Any) -> Any:
    return _ok(httpx.request(method, f"{sim.url}{path}", timeout=30.0, **kwargs))


def _requests(sim: GraphSimulator) -> int:
    return int(_control(sim, "GET", "/_sim/stats")["requests"])
