"""Chapter: consent and opt-outs. The admin center grants consent through a signed webhook, an administrator
reads it with a token, a group and a user opt out, the consent is withdrawn, and the purge records and the
audit trail show what happened and by when the data must be gone.

`prepare` runs before the app starts: it serves a JWKS on 127.0.0.1 (a stand-in for Entra ID) and gives the
app its URL and a fresh webhook secret.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from demo.framework import Context
from tests.support import admin_center as ac
from tests.support.consent_client import ConsentClient, Identity

TITLE = "consent and opt-outs: webhooks, tokens, purges and the audit trail"

_started: list[tuple[Identity, str]] = []  # what `prepare` started, for `run`


def prepare(ctx: Context) -> None:
    identity = Identity()
    identity.__enter__()
    ctx.add_cleanup(lambda: identity.__exit__(None, None, None))
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    ctx.add_host_env(ADMIN_CENTER_WEBHOOK_SECRET=secret, **identity.host_settings())
    _started.append((identity, secret))


def run(ctx: Context) -> None:
    if not _started:
        raise ctx.fail("the consent chapter's prepare step did not run (list it in demo PREPARE)")
    identity, secret = _started[-1]
    story = _Story(ctx, ConsentClient(ctx.http, identity, secret))
    ctx.say(f"a new tenant: {story.tenant}")
    story.legacy_form()
    story.grant()
    story.repeats_and_late_events()
    story.opt_outs()
    story.refusals()
    story.withdrawal()
    story.purges()
    story.audit_trail()


class _Story:
    def __init__(self, ctx: Context, client: ConsentClient) -> None:
        self.ctx, self.client = ctx, client
        self.tenant = str(uuid.uuid4())
        self.names = {str(uuid.uuid4()): name for name in ("Legal", "Executives", "Contractors")}
        self.legal, self.executives, self.contractors = self.names
        self.alice = str(uuid.uuid4())
        self.grant_event: dict[str, Any] = {}
        self.grant_answer: dict[str, Any] = {}
        self.grant_id = f"msg_{uuid.uuid4().hex}"

    def legacy_form(self) -> None:
        ctx, now = self.ctx, datetime.now(UTC)
        with ctx.step("The admin center imports a legacy consent form (relationship analytics, 'Legal' out)"):
            event = ac.legacy_imported(
                self.tenant, "relationship_analytics", now, granted_at=now - timedelta(days=400),
                expires_at=now + timedelta(days=30), groups=[self.legal],
            )  # fmt: skip
            _accepted(ctx, self.client.deliver(event), 202)
            for name, feature in self.consent()["features"].items():
                ctx.say(f"{name}: enabled={feature['enabled']} (basis: {feature['basis']})")

    def grant(self) -> None:
        ctx = self.ctx
        with ctx.step("The admin grants the new consent in the admin center ('Executives' opted out)"):
            self.grant_event = ac.granted(self.tenant, datetime.now(UTC), [self.executives])
            self.grant_answer = _accepted(
                ctx, self.client.deliver(self.grant_event, msg_id=self.grant_id), 202
            )
            ctx.say(f"the webhook answered 202: outcome {self.grant_answer['outcome']}")
            if self.grant_answer.get("purgeId"):
                ctx.say(
                    "'Executives' were covered by the legacy form's collection until now: a purge is queued"
                )
            body = self.consent()
            # The UPN the admin center sent is not kept: who granted is an object ID.
            granted_by = body["granted"]["actorId"]
            ctx.say(f"consent is now {body['state']} (version {body['version']}), granted by {granted_by}")
            for name, feature in body["features"].items():
                legacy = feature["legacy"]
                note = f", legacy form {legacy['status']}" if legacy else ""
                ctx.say(f"{name}: enabled={feature['enabled']} (basis: {feature['basis']}{note})")
            for group in body["optedOutGroups"]:
                ctx.say(f"opted-out group {self.names[group['groupId']]}: source {group['source']}")

    def repeats_and_late_events(self) -> None:
        ctx = self.ctx
        with ctx.step("The admin center delivers the same webhook again, then a late event from before"):
            again = self.client.deliver(self.grant_event, msg_id=self.grant_id)
            ctx.expect(
                again.status_code == 200 and again.json() == self.grant_answer, "a repeat was processed"
            )
            ctx.say("the repeat answered 200 with the first answer; nothing happened twice")
            earlier = ac.revoked(self.tenant, datetime.now(UTC) - timedelta(minutes=3))
            late = _accepted(ctx, self.client.deliver(earlier), 202)
            ctx.expect(late["outcome"] == "stale", f"a late revocation was {late['outcome']}")
            ctx.say(
                f"a revocation timed 3 minutes earlier is '{late['outcome']}': the consent stays granted, "
                f"but its tenant purge {late.get('purgeId')} is queued, as delivery in order would have "
                "done (it withdrew what the legacy form had let us collect until then)"
            )
            ctx.expect(self.consent()["state"] == "granted", "the stale event changed the consent")
            ctx.expect(bool(late.get("purgeId")), "a late revocation asked for no purge")

    def opt_outs(self) -> None:
        ctx, tenant = self.ctx, self.tenant
        with ctx.step("An administrator opts out the 'Contractors' group through the API (with a token)"):
            groups = [self.legal, self.executives, self.contractors]
            response = self.client.put(
                f"/api/tenants/{tenant}/opt-outs/groups", tenant, json={"groupIds": groups}
            )
            body = _accepted(ctx, response, 202)
            ctx.say(f"202: the list now holds {len(body['groups'])} groups; purge {body['purgeId']} queued")
        with ctx.step("Alice opts herself out (her own token, no admin role)"):
            path = f"/api/tenants/{tenant}/opt-outs/users/{self.alice}"
            response = self.client.put(path, tenant, roles=(), oid=self.alice)
            ctx.say(f"202: purge {_accepted(ctx, response, 202)['purgeId']} queued for Alice's data")
            other = f"/api/tenants/{tenant}/opt-outs/users/{uuid.uuid4()}"
            someone = self.client.put(other, tenant, roles=(), oid=self.alice)
            ctx.expect(someone.status_code == 403, f"opting out someone else answered {someone.status_code}")
            ctx.say("Alice opting out someone else (no Consent.Manage role): 403")

    def refusals(self) -> None:
        ctx, tenant = self.ctx, self.tenant
        with ctx.step("Things that are refused and change nothing"):
            unsigned = ctx.http.post("/api/webhooks/admin-center", json=ac.revoked(tenant, datetime.now(UTC)))
            ctx.say(f"an unsigned webhook: {unsigned.status_code}")
            stranger = self.client.bearer(str(uuid.uuid4()))
            other = self.client.get(f"/api/tenants/{tenant}/consent", tenant, authorization=stranger)
            ctx.say(f"a token of another tenant: {other.status_code}")
            ctx.expect(
                (unsigned.status_code, other.status_code) == (401, 403), "a refusal answered otherwise"
            )

    def withdrawal(self) -> None:
        ctx = self.ctx
        with ctx.step("The admin withdraws the consent in the admin center"):
            body = _accepted(ctx, self.client.deliver(ac.revoked(self.tenant, datetime.now(UTC))), 202)
            ctx.say(
                f"202: consent revoked; tenant purge {body['purgeId']} queued; every user is now excluded"
            )
            features = self.consent()["features"]
            ctx.expect(not any(f["enabled"] for f in features.values()), "a feature is still enabled")

    def purges(self) -> None:
        ctx, tenant = self.ctx, self.tenant
        what = {"tenant": "the whole tenant", "user": "one user", "groups": "members of opted-out groups"}
        with ctx.step("The purge records: what goes, why, and by when"):
            purges = self.client.get(f"/api/tenants/{tenant}/purges", tenant).json()["purges"]
            for purge in purges:
                ctx.say(
                    f"{purge['reason']}: {what.get(purge['scope']['kind'], purge['scope']['kind'])}, "
                    f"status {purge['status']}, live data by {purge['liveDeadline'][:16]}, "
                    f"backups by {purge['backupDeadline'][:10]}"
                )
            # Executives at the grant, the late revocation's tenant, Contractors, Alice, the tenant.
            ctx.expect(len(purges) == 5, f"expected 5 purge records, found {len(purges)}")
            ctx.say(
                "(the purge function works through them in the background meanwhile, so some may be past "
                "`queued`; the purge chapter follows one to the end)"
            )

    def audit_trail(self) -> None:
        ctx = self.ctx
        with ctx.step("The audit trail, newest first (IDs and outcomes, never content)"):
            entries = self.client.audit(self.tenant, limit=40)
            for entry in entries[:16]:
                ctx.say(f"{entry['at'][11:19]} {entry['kind']:<24} {entry['outcome']:<9} {_about(entry)}")
            ctx.say(f"... {len(entries)} entries in all")

    def consent(self) -> dict[str, Any]:
        return _accepted(self.ctx, self.client.get(f"/api/tenants/{self.tenant}/consent", self.tenant), 200)


def _accepted(ctx: Context, response: Any, status: int) -> dict[str, Any]:
    ctx.expect(
        response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    )
    body: dict[str, Any] = response.json()
    return body


def _about(entry: dict[str, Any]) -> str:
    parts = []
    if entry["webhookId"]:
        parts.append(f"webhook {entry['webhookId'][:12]}…")
    if entry["eventType"]:
        parts.append(entry["eventType"])
    if entry["detail"]:
        parts.append(entry["detail"])
    return ", ".join(parts)
