"""Chapter: one year of mail and meetings. A Graph simulator holds a synthetic tenant of a few dozen people;
the tenant grants consent, the ingestion timer fans the backfill out on the `ingest` queue (12 monthly
windows per user), and the insights come back: the top contacts with their KPIs and health, who knows whom
for the heaviest one, and an introduction draft.

`prepare` starts the simulator (`python -m graphsim`) before the app and points the app at it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from demo import chapter_consent
from demo.framework import Context

TITLE = "one year of mail and meetings: ingestion and the insights it feeds"

USERS = 24
BACKFILL_WINDOWS = 12
INGESTION_TIMEOUT_SECONDS = 600
GRAPH_TOKEN = "demo-graph-token"  # noqa: S105  (the simulator's test token, loopback only)
_simulator: list[dict[str, Any]] = []
ingested: list[str] = []  # tenants this chapter ingested (the purge chapter withdraws the last one)


def prepare(ctx: Context) -> None:
    with ctx.step(f"Starting a Graph simulator with a synthetic tenant of {USERS} people"):
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        process = subprocess.Popen(
            [sys.executable, "-m", "graphsim", "--users", str(USERS), "--contacts", "150",
             "--messages-per-month", "12", "--meetings-per-month", "2", "--now", now, "--seed", "7",
             "--token", GRAPH_TOKEN],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        ctx.add_cleanup(lambda: _stop(process))
        line = process.stdout.readline() if process.stdout else ""
        if not line:
            raise ctx.fail("the Graph simulator did not start")
        info = json.loads(line)
        _simulator.append(info)
        ctx.add_host_env(
            GRAPH_BASE_URL=info["graphUrl"], GRAPH_AUTH="static-token", GRAPH_STATIC_TOKEN=GRAPH_TOKEN,
            GRAPH_NOTIFICATIONS="on",  # the notifications chapter subscribes; nothing happens until then
        )  # fmt: skip
        ctx.say(f"Graph answers on {info['graphUrl']}")


def run(ctx: Context) -> None:
    # The consent chapter's identity is the one the app trusts.
    if not _simulator or not chapter_consent._started:
        raise ctx.fail(
            "the ingestion chapter needs its prepare step and the consent chapter's (demo PREPARE)"
        )
    identity = chapter_consent._started[-1][0]
    sim = httpx.get(_simulator[-1]["url"] + "/_sim/tenant", timeout=10).json()
    tenant = str(sim["tenantId"]).lower()  # Graph's notifications name the tenant their mailboxes are in
    ingested.append(tenant)
    manage = {"Authorization": identity.tokens.authorization(tenant, roles=["Consent.Manage"])}
    reader = {"Authorization": identity.tokens.authorization(tenant, roles=["Insights.Read"])}
    mailboxes = sum(1 for user in sim["users"] if user.get("mail"))

    ctx.say(f"a second tenant, the simulator's: {tenant}")
    _plan_a_meeting(ctx, sim)
    with ctx.step("The tenant grants consent; the ingestion timer fires"):
        response = ctx.http.put(f"/api/tenants/{tenant}/consent", headers=manage)
        ctx.expect(response.status_code == 200, f"the grant answered {response.status_code}: {response.text}")
        outcome = ctx.host.fire("ingestion_schedule")
        ctx.expect(outcome.get("outcome") == "Succeeded", f"the ingestion timer failed: {outcome}")
        ctx.say(f"{mailboxes} mailboxes x {BACKFILL_WINDOWS} monthly windows queued on `ingest`")

    with ctx.step("Ingesting one year of metadata (never bodies or subjects; GET .../ingestion)"):
        _wait_for_ingestion(ctx, tenant, manage, mailboxes * BACKFILL_WINDOWS)

    _top_contacts(ctx, tenant, sim, reader)

    top = sim["topContacts"][0]
    with ctx.step(f"Who knows {top} best? (POST .../who-knows-whom/lookup)"):
        answer = ctx.http.post(
            f"/api/tenants/{tenant}/who-knows-whom/lookup", json={"contact": top}, headers=reader
        )
        ctx.expect(answer.status_code == 200, f"who-knows-whom answered {answer.status_code}: {answer.text}")
        colleagues = answer.json()["colleagues"]
        for colleague in colleagues:
            ctx.say(
                f"{colleague['displayName']:<22} strength {colleague['strength']:>3} ({colleague['band']}), "
                f"last {colleague['lastInteraction'][:10]}"
            )
        ctx.expect(bool(colleagues), "nobody knows the heaviest contact: ingestion wrote nothing")

    domain = top.rsplit("@", 1)[1]
    with ctx.step(f"The account {domain}: all its contacts together (POST .../accounts/lookup)"):
        known = [address for address in sim["topContacts"] if address.endswith("@" + domain)]
        answer = ctx.http.post(
            f"/api/tenants/{tenant}/accounts/lookup", json={"domain": domain, "knownContacts": known},
            headers=reader,
        )  # fmt: skip
        ctx.expect(answer.status_code == 200, f"the account answered {answer.status_code}: {answer.text}")
        account = answer.json()
        ctx.say(_kpi_line(f"{domain} ({account['contacts']} contacts)", account))
        ctx.say(
            "most contacted: " + ", ".join(c["contact"] or c["contactKey"] for c in account["topContacts"])
        )
        ctx.say("who contacts them most: " + ", ".join(c["displayName"] for c in account["topColleagues"]))

    with ctx.step("Asking the best-connected colleague for an introduction"):
        body = {"contact": top, "colleagueUserId": colleagues[0]["userId"]}
        answer = ctx.http.post(
            f"/api/tenants/{tenant}/who-knows-whom/introductions", json=body, headers=reader
        )
        ctx.expect(answer.status_code == 201, f"introductions answered {answer.status_code}: {answer.text}")
        draft = answer.json()["draft"]
        ctx.say(f"to: {draft['to']}")
        ctx.say(f"subject: {draft['subject']}")


def _wait_for_ingestion(ctx: Context, tenant: str, manage: dict[str, str], total: int) -> None:
    """The progress bar is the tenant's ingestion status (backfill windows done of total, the estimated end);
    done once every window landed and the `ingest` queue is empty and idle twice in a row (other queues may
    hold delayed messages, e.g. a purge's second verification)."""
    deadline = time.monotonic() + INGESTION_TIMEOUT_SECONDS
    quiet = 0
    progress: dict[str, Any] = {}
    with ctx.progress(total, "backfill windows landed") as bar:
        while time.monotonic() < deadline:
            answer = ctx.http.get(f"/api/tenants/{tenant}/ingestion", headers=manage)
            ctx.expect(answer.status_code == 200, f"the ingestion status answered {answer.status_code}")
            progress = answer.json()
            bar.update(progress["backfillWindows"]["done"], note=_eta(progress))
            status = ctx.host.queue_status()
            ingest = next(q for q in status["queues"] if q["queue"] == "ingest")
            waiting = (ingest["approximateMessageCount"] or 0) + ingest["inFlight"]
            quiet = quiet + 1 if waiting == 0 and progress["phase"] == "current" else 0
            if quiet >= 2:
                break
            time.sleep(0.5)
        else:
            raise ctx.fail(f"ingestion did not finish within {INGESTION_TIMEOUT_SECONDS} s")
    users, windows = progress["users"], progress["backfillWindows"]
    ctx.say(
        f"status: {progress['phase']}, {users['backfilled']}/{users['total']} users and "
        f"{windows['done']}/{windows['total']} windows done, {len(progress['failingUsers'])} failing, "
        f"accuracy {progress['accuracy']}"
    )
    ctx.expect(windows["done"] == total, f"expected {total} windows done, the status says {windows}")


def _eta(progress: dict[str, Any]) -> str:
    end = progress.get("estimatedBackfillEnd")
    if not end:
        return ""
    left = datetime.fromisoformat(end) - datetime.now(UTC)
    return f"about {max(0, round(left.total_seconds()))} s left"


def _top_contacts(ctx: Context, tenant: str, sim: dict[str, Any], reader: dict[str, str]) -> None:
    """The five heaviest contacts, each with its KPIs, score and components: distinct, spread, ranked."""
    with ctx.step("The top contacts: KPIs and relationship health (POST .../relationships/lookup)"):
        scores: list[int] = []
        ranked: list[tuple[Any, ...]] = []
        for address in sim["topContacts"][:5]:
            answer = ctx.http.post(
                f"/api/tenants/{tenant}/relationships/lookup", json={"contact": address}, headers=reader
            )
            ctx.expect(
                answer.status_code == 200, f"relationships answered {answer.status_code}: {answer.text}"
            )
            ctx.say(_kpi_line(address, answer.json()))
            health = answer.json()["health"]
            if health["score"] is not None:
                scores.append(health["score"])
                parts = health["components"] or {}
                ranked.append(
                    (health["score"], *(parts.get(k) for k in ("activity", "recency", "reciprocity")))
                )
            if address == sim["topContacts"][0]:
                ctx.expect(answer.json()["nextInteraction"] is not None, "the planned meeting is not shown")
        # Lists rank on the unrounded score, so two contacts may show the same rounded number; their
        # components still tell them apart (and must, or the score would not rank them).
        ctx.expect(
            len(set(ranked)) == len(ranked) >= 2 and max(scores) - min(scores) >= 15,
            f"the top contacts' scores do not rank them: {ranked}",
        )
        ctx.say(
            f"scores spread over {max(scores) - min(scores)} points (activity / recency / reciprocity, each "
            "0-100, weigh 0.4 / 0.3 / 0.3; a weekly exchange scores about 65)"
        )


def _plan_a_meeting(ctx: Context, sim: dict[str, Any]) -> None:
    """A meeting ahead with the top contact: the calendar is read 90 days ahead for the next interaction."""
    organizer = next(user["mail"] for user in sim["users"] if user.get("mail"))
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)
    planned = httpx.post(
        _simulator[-1]["url"] + "/_sim/meetings",
        json={"organizer": organizer, "attendees": [sim["topContacts"][0]], "start": start.isoformat()},
        timeout=10,
    )
    ctx.expect(planned.status_code == 200, f"the simulator did not plan the meeting: {planned.text}")
    ctx.say(f"{organizer} has a meeting planned with {sim['topContacts'][0]} on {start:%a %d %b %H:%M} UTC")


def _kpi_line(address: str, kpis: dict[str, Any]) -> str:
    health = kpis["health"]
    score = "n/a" if health["score"] is None else f"{health['score']:>3}"
    parts = health["components"]
    why = (
        ""
        if parts is None
        else f" = {parts['activity']:.0f}/{parts['recency']:.0f}/{parts['reciprocity']:.0f}"
    )
    rate = kpis["responseRateByUs"]
    return (
        f"{address:<34} mails {kpis['emailsSent']:>3} out / {kpis['emailsReceived']:>3} in, "
        f"meetings {kpis['meetingsSent'] + kpis['meetingsReceived']:>2}, "
        f"we answer {'-' if rate is None else f'{rate:.0%}'}; health {score}{why} {health['grade']}"
        f" ({health['trend'] or 'no trend'}), {kpis['accuracy']}"
        + ("" if kpis["nextInteraction"] is None else f"; next meeting {kpis['nextInteraction']['at'][:16]}")
    )


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
