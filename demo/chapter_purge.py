"""Chapter: a group and a person opt out, then the tenant withdraws.

On the tenant of the ingestion chapter, an administrator opts out a security group: its members leave
both insights in the first answer after the change, and the group's purge takes their data; then the
colleague who knows the heaviest contact best opts out and their data goes; the tenant takes its nightly
backup, then withdraws its consent; the purge function deletes every live trace and every backup, searches
every store for the tenant, and records the proof, in seconds rather than the 24 hours allowed. The admin
then grants again before the purge's sweep: the ingestion timer holds the tenant (nothing is collected that
the sweep would delete) until the purge completes.

It talks to the API with the stand-in Entra ID that the consent chapter's `prepare` started.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from datetime import datetime
from typing import Any

import httpx

from demo import chapter_consent, chapter_ingestion
from demo.framework import Context
from functions.adapters.storage import StorageClients
from functions.settings import storage_settings
from tests.support.purge_data import tenant_traces

TITLE = "opt-out and withdrawal: the purges, their proof, and how long they took"

PURGE_TIMEOUT_SECONDS = 120


def run(ctx: Context) -> None:
    if not chapter_ingestion.ingested or not chapter_consent._started or ctx.azurite is None:
        raise ctx.fail(
            "the purge chapter needs the ingestion chapter's tenant and the consent chapter's identity"
        )
    identity = chapter_consent._started[-1][0]
    tenant = chapter_ingestion.ingested[-1]
    manage = {"Authorization": identity.tokens.authorization(tenant, roles=["Consent.Manage"])}
    storage = StorageClients(storage_settings(ctx.app_settings))

    _a_group_is_opted_out(ctx, storage, tenant, identity, manage)
    _a_colleague_opts_out(ctx, storage, tenant, identity, manage)

    with ctx.step("The nightly backup runs (the backup timer, fired by hand)"):
        outcome = ctx.host.fire("backup_daily")
        ctx.expect(outcome.get("outcome") == "Succeeded", f"the backup timer failed: {outcome}")
        before = tenant_traces(storage, tenant)
        ctx.say("what the tenant has now: " + _counts(before))
        ctx.expect(
            before["slices"] > 0 and before["backups"] > 0, "there is nothing to purge: no ingestion ran"
        )

    with ctx.step("The admin withdraws the consent (DELETE /api/tenants/{tenantId}/consent)"):
        started = time.monotonic()
        response = ctx.http.delete(f"/api/tenants/{tenant}/consent", headers=manage)
        ctx.expect(
            response.status_code == 202, f"the withdrawal answered {response.status_code}: {response.text}"
        )
        purge_id = response.json()["purgeId"]
        ctx.say(f"202: purge {purge_id} queued on `purges`; ingestion stops at once")

    with ctx.step("The purge function deletes live data and backups, then searches every store"):
        purge = _wait_until_verified(ctx, tenant, purge_id, manage)
        elapsed = time.monotonic() - started
        for step in purge["steps"]:
            ctx.say(f"{step['name']:<16} in {step['durationMs']:>5} ms: {_counts(step['counts'])}")
        requested, verified = (datetime.fromisoformat(purge[k]) for k in ("requestedAt", "verifiedAt"))
        ctx.say(
            f"withdrawal to verified deletion: {(verified - requested).total_seconds():.1f} s "
            f"({elapsed:.1f} s seen from here); the promise is 24 hours for live data, 30 days for backups"
        )

    with ctx.step("Searching every store for the tenant ourselves"):
        after = tenant_traces(storage, tenant)
        ctx.say("what the tenant has now: " + _counts(after))
        ctx.expect(not any(after.values()), f"traces remain after the purge: {after}")

    with ctx.step("Revocation wins: a second sweep once no older ingestion can still write"):
        ctx.say(
            f"any ingestion that started before the withdrawal ends within the host's 10-minute timeout; "
            f"the maintenance timer re-queues the purge at {purge['sweepAt'][11:19]} (UTC), which deletes "
            "anything written late and verifies zero again, then marks it completed"
        )
        ctx.say(f"deadline flags: {purge['deadlineFlags'] or 'none'}; attempts: {purge['attempts']}")

    with ctx.step("The admin changes their mind and grants again before the sweep"):
        response = ctx.http.put(f"/api/tenants/{tenant}/consent", headers=manage)
        ctx.expect(response.status_code == 200, f"the grant answered {response.status_code}: {response.text}")
        outcome = ctx.host.fire("ingestion_schedule")
        ctx.expect(outcome.get("outcome") == "Succeeded", f"the ingestion timer failed: {outcome}")
        held = tenant_traces(storage, tenant)
        ctx.expect(not any(held.values()), f"a held tenant was collected: {held}")
        entries = ctx.http.get(f"/api/tenants/{tenant}/audit", params={"limit": 10}, headers=manage).json()
        run = next(e for e in entries["entries"] if e["kind"] == "ingestion.scheduled")
        ctx.expect(run["outcome"] == "held", f"the ingestion timer was not held: {run}")
        ctx.say(
            f"audit: ingestion.scheduled {run['outcome']} ({run['detail']}): the timer leaves the tenant "
            "alone while its purge is unfinished, so the sweep cannot delete what the new consent collects; "
            "when the purge completes it queues the tenant's backfill itself"
        )
        ctx.say("what the tenant has now: " + _counts(held))

    with ctx.step("The purge's story in the audit log (IDs and counts, never content)"):
        entries = ctx.http.get(f"/api/tenants/{tenant}/audit", params={"limit": 50}, headers=manage).json()
        for entry in reversed([e for e in entries["entries"] if e["purgeId"] == purge_id]):
            counts = f": {_counts(entry['counts'])}" if entry["counts"] else ""
            ctx.say(f"{entry['at'][11:19]} {entry['kind']:<22} {entry['outcome']:<14}{counts}")

    _download_the_evidence(ctx, tenant, manage)


def _download_the_evidence(ctx: Context, tenant: str, manage: dict[str, str]) -> None:
    with ctx.step("An auditor's evidence: one download (GET .../evidence?format=zip)"):
        answer = ctx.http.get(f"/api/tenants/{tenant}/evidence", params={"format": "zip"}, headers=manage)
        ctx.expect(answer.status_code == 200, f"the evidence export answered {answer.status_code}")
        archive = zipfile.ZipFile(io.BytesIO(answer.content))
        evidence = json.loads(archive.read("evidence.json"))
        name = answer.headers["content-disposition"].split("filename=")[1].strip('"')
        ctx.say(f"{name}: {', '.join(archive.namelist())}")
        summary = evidence["summary"]
        ctx.say(
            f"{summary['consentChanges']} consent changes, {summary['purges']} purges; deadlines missed "
            f"{summary['deadlinesMissed']}, pending {summary['deadlinesPending']}"
        )
        for purge in evidence["purges"][:3]:
            record = purge["purge"]
            ctx.say(
                f"purge {record['id'][:8]}… {record['reason']}: live {purge['liveDeadline']}, "
                f"backups {purge['backupDeadline']}"
            )


def _a_group_is_opted_out(
    ctx: Context, storage: StorageClients, tenant: str, identity: Any, manage: dict[str, str]
) -> None:
    sim = httpx.get(chapter_ingestion._simulator[-1]["url"] + "/_sim/tenant", timeout=10).json()
    top = sim["topContacts"][0]
    reader = {"Authorization": identity.tokens.authorization(tenant, roles=["Insights.Read"])}

    def ask(insight: str) -> dict[str, Any]:
        answer = ctx.http.post(
            f"/api/tenants/{tenant}/{insight}/lookup", json={"contact": top}, headers=reader
        )
        ctx.expect(answer.status_code == 200, f"{insight} answered {answer.status_code}: {answer.text}")
        body: dict[str, Any] = answer.json()
        return body

    shown = {c["userId"]: c["displayName"] for c in ask("who-knows-whom")["colleagues"]}
    group = next(
        (g for g in sim["groups"] if 0 < len(set(shown) & {m.lower() for m in g["members"]}) < len(shown)),
        None,
    )
    if group is None:
        raise ctx.fail("no group of the simulated tenant holds some, not all, of the contact's colleagues")
    members = {m.lower() for m in group["members"]}
    names = ", ".join(sorted(name for uid, name in shown.items() if uid in members))
    with ctx.step(
        f"An administrator opts out the group '{group['displayName']}' ({len(members)} people, {names} "
        f"among those who know {top} best)"
    ):
        started = time.monotonic()
        response = ctx.http.put(
            f"/api/tenants/{tenant}/opt-outs/groups", json={"groupIds": [group["id"]]}, headers=manage
        )
        ctx.expect(
            response.status_code == 202, f"the change answered {response.status_code}: {response.text}"
        )
        first = ask("who-knows-whom")
        hidden = time.monotonic() - started
        ctx.expect(not {c["userId"] for c in first["colleagues"]} & members, "a member is still shown")
        ctx.say(
            f"the first answer after the change ({hidden * 1000:.0f} ms) shows none of them (accuracy "
            f"{first['accuracy']}: while the group's members are being resolved, nobody unresolved is shown)"
        )
        deadline = time.monotonic() + PURGE_TIMEOUT_SECONDS
        while (answer := ask("who-knows-whom"))["accuracy"] != "complete":
            if time.monotonic() > deadline:
                raise ctx.fail("the group's members were not resolved in time")
            time.sleep(0.1)
        resolved = time.monotonic() - started
        ctx.expect(not {c["userId"] for c in answer["colleagues"]} & members, "a member is shown again")
        who = ", ".join(c["displayName"] for c in answer["colleagues"])
        ctx.say(f"resolved after {resolved:.1f} s: who knows {top} now: {who}")
        ctx.say(f"relationship KPIs without them: {ask('relationships')['accuracy']}")
    with ctx.step("The group's purge (GROUP_OPTOUT_EXISTING_DATA=purge) takes its members' data"):
        purge = _wait_until_verified(ctx, tenant, response.json()["purgeId"], manage)
        for step in purge["steps"]:
            ctx.say(f"{step['name']:<16} in {step['durationMs']:>5} ms: {_counts(step['counts'])}")
        left = dict.fromkeys(("slices", "contacts", "cursors", "introductions", "backups"), 0)
        for member in members:
            for store, count in tenant_traces(storage, tenant, member).items():
                left[store] = left.get(store, 0) + count
        ctx.say("the members' data now: " + _counts(left))
        ctx.expect(not any(left.values()), f"traces of the group's members remain: {left}")


def _a_colleague_opts_out(
    ctx: Context, storage: StorageClients, tenant: str, identity: Any, manage: dict[str, str]
) -> None:
    top = httpx.get(chapter_ingestion._simulator[-1]["url"] + "/_sim/tenant", timeout=10).json()[
        "topContacts"
    ][0]
    reader = {"Authorization": identity.tokens.authorization(tenant, roles=["Insights.Read"])}

    def colleagues() -> list[dict[str, Any]]:
        answer = ctx.http.get(
            f"/api/tenants/{tenant}/who-knows-whom", params={"contact": top}, headers=reader
        )
        ctx.expect(answer.status_code == 200, f"who-knows-whom answered {answer.status_code}: {answer.text}")
        listed: list[dict[str, Any]] = answer.json()["colleagues"]
        return listed

    person = colleagues()[0]
    user_id, name = person["userId"], person["displayName"]
    with ctx.step(f"{name}, who knows {top} best, opts out (their own token, no admin role)"):
        ctx.say(f"{name}'s data now: " + _counts(tenant_traces(storage, tenant, user_id)))
        own = {"Authorization": identity.tokens.authorization(tenant, roles=[], oid=user_id)}
        response = ctx.http.put(f"/api/tenants/{tenant}/opt-outs/users/{user_id}", headers=own)
        ctx.expect(
            response.status_code == 202, f"the opt-out answered {response.status_code}: {response.text}"
        )
        purge = _wait_until_verified(ctx, tenant, response.json()["purgeId"], manage)
        for step in purge["steps"]:
            ctx.say(f"{step['name']:<16} in {step['durationMs']:>5} ms: {_counts(step['counts'])}")
        left = tenant_traces(storage, tenant, user_id)
        ctx.say(f"{name}'s data after the user purge: " + _counts(left))
        ctx.expect(not any(left.values()), f"traces of the user remain: {left}")
        after = [c["displayName"] for c in colleagues()]
        ctx.expect(name not in after, f"{name} still appears in who knows whom")
        ctx.say(f"who knows {top} now: {', '.join(after)} ({name} is gone from every insight)")


def _wait_until_verified(ctx: Context, tenant: str, purge_id: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + PURGE_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        response = ctx.http.get(f"/api/tenants/{tenant}/purges/{purge_id}", headers=headers)
        ctx.expect(response.status_code == 200, f"the purge API answered {response.status_code}")
        purge: dict[str, Any] = response.json()
        if purge["status"] in ("verified", "swept", "completed"):
            return purge
        time.sleep(0.2)
    raise ctx.fail(f"the purge was not verified within {PURGE_TIMEOUT_SECONDS} s")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items()) or "nothing"
