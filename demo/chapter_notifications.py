"""Chapter: fresh within seconds. The app of this demo runs with `GRAPH_NOTIFICATIONS=on` (set by the
ingestion chapter's `prepare`). A subscription reconciliation (what the `SUBSCRIPTION_SCHEDULE` timer runs for
every tenant, here asked for the ingested one) subscribes each included mailbox to mail and events, after
Graph's validation handshake with the app. Then a colleague writes to the heaviest contact: the simulator
posts Graph's basic notification (IDs only), the app coalesces it into a refresh of that colleague, and the
contact's KPIs count the message seconds later instead of after the next daily run.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import httpx

from demo import chapter_consent, chapter_ingestion
from demo.framework import Context

TITLE = "fresh within seconds: Graph change notifications"

TIMEOUT_SECONDS = 60


def run(ctx: Context) -> None:
    if not chapter_ingestion.ingested or not chapter_ingestion._simulator or not chapter_consent._started:
        raise ctx.fail("the notifications chapter needs the ingestion chapter's tenant and simulator")
    identity = chapter_consent._started[-1][0]
    tenant = chapter_ingestion.ingested[-1]
    sim_url = chapter_ingestion._simulator[-1]["url"]
    reader = {"Authorization": identity.tokens.authorization(tenant, roles=["Insights.Read"])}
    sim = httpx.get(sim_url + "/_sim/tenant", timeout=10).json()

    with ctx.step("Subscribing every included mailbox to mail and meetings (basic notifications: IDs only)"):
        message = json.dumps({"type": "subscriptions.sync", "tenantId": tenant})
        outcome = ctx.host.fire("refresh_worker", message)
        ctx.expect(outcome.get("outcome") == "Succeeded", f"the subscription sync failed: {outcome}")
        subscriptions = httpx.get(sim_url + "/_sim/subscriptions", timeout=10).json()["value"]
        mailboxes = sum(1 for user in sim["users"] if user.get("mail"))
        ctx.expect(len(subscriptions) == 2 * mailboxes, f"{len(subscriptions)} subscriptions for {mailboxes}")
        ctx.say(
            f"{len(subscriptions)} subscriptions ({mailboxes} mailboxes x messages, events), each made after "
            "the app answered Graph's validation handshake; the app keeps only a hash of each clientState"
        )

    top = sim["topContacts"][0]
    sender = next(user for user in sim["users"] if user.get("mail"))
    with ctx.step(f"{sender['displayName']} writes to {top}; the KPIs count it without waiting a day"):
        before = _emails_sent(ctx, tenant, top, reader)
        started = time.monotonic()
        sent = httpx.post(
            sim_url + "/_sim/mail",
            json={"from": sender["mail"], "to": [top], "at": datetime.now(UTC).isoformat()},
            timeout=10,
        )
        ctx.expect(sent.status_code == 200 and sent.json()["notified"] >= 1, f"no notification: {sent.text}")
        while (after := _emails_sent(ctx, tenant, top, reader)) <= before:
            if time.monotonic() - started > TIMEOUT_SECONDS:
                raise ctx.fail(f"the new message was not counted within {TIMEOUT_SECONDS} s")
            time.sleep(0.25)
        ctx.say(
            f"emails sent to {top}: {before} -> {after}, {time.monotonic() - started:.1f} s after the "
            "message (most of it the 10 s in which more notifications of the user would join one refresh)"
        )


def _emails_sent(ctx: Context, tenant: str, contact: str, reader: dict[str, str]) -> int:
    answer = ctx.http.post(
        f"/api/tenants/{tenant}/relationships/lookup", json={"contact": contact}, headers=reader
    )
    ctx.expect(answer.status_code == 200, f"relationships answered {answer.status_code}: {answer.text}")
    return int(answer.json()["emailsSent"])
