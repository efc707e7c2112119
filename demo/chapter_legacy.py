"""Chapter: the two old consent forms. An operator bulk-imports legacy records with tools/import_legacy.py
(a bad file is refused whole first). One tenant's form runs out: the feature stops at the expiry instant and
the maintenance timer, fired by hand, records the expiry and queues the purges, once. Another tenant grants
the new consent: its legacy opted-out groups join its opt-out list with source `legacy-migration` and its
legacy records are superseded, also a record that arrives after the grant.

It talks to the API with the stand-in Entra ID that the consent chapter's `prepare` started.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from demo import chapter_consent
from demo.framework import Context
from tests.support.admin_center import rfc3339
from tests.support.consent_client import ConsentClient

TITLE = "legacy consent: the old forms expire, or migrate when the tenant grants"

ROOT = Path(__file__).resolve().parent.parent
HEADER = "tenantId,feature,grantedAt,expiresAt,optedOutGroupIds"
SECONDS_TO_EXPIRY = 6
MAINTENANCE = "maintenance"  # the timer function's name in the host


def run(ctx: Context) -> None:
    started = chapter_consent._started  # the one stand-in Entra ID (and webhook secret) of this demo run
    if not started:
        raise ctx.fail("the consent chapter's prepare step did not run (list it in demo PREPARE)")
    identity, secret = started[-1]
    if MAINTENANCE not in {f["name"] for f in ctx.host.functions()}:
        raise ctx.fail(f"the host has no '{MAINTENANCE}' timer function")
    workdir = tempfile.TemporaryDirectory(prefix="legacy-import-")
    ctx.add_cleanup(workdir.cleanup)
    story = _Story(ctx, ConsentClient(ctx.http, identity, secret), Path(workdir.name))
    story.refused_file()
    story.import_forms()
    story.expiry()
    story.migration()


class _Story:
    def __init__(self, ctx: Context, client: ConsentClient, workdir: Path) -> None:
        self.ctx, self.client, self.workdir = ctx, client, workdir
        self.expiring, self.migrating = str(uuid.uuid4()), str(uuid.uuid4())
        self.names = {str(uuid.uuid4()): n for n in ("Sales-EU", "Interns", "Contractors", "Board")}
        self.sales, self.interns, self.contractors, self.board = self.names
        self.expires_at = datetime.now(UTC)

    # --- the import ------------------------------------------------------------------------------------

    def refused_file(self) -> None:
        ctx = self.ctx
        with ctx.step("An operator imports a file with mistakes: it is refused whole"):
            path = self._write(
                "mistakes.csv",
                f"{self.expiring},who_knows_whom,2021-03-01T10:00:00Z,,",
                f"{self.migrating},connection_graph,2021-03-01T10:00:00Z,,",
                f"{self.migrating},relationship_analytics,2021-03-01T10:00:00Z,2020-01-01T00:00:00Z,Sales-EU",
            )
            result = self._import(path)
            ctx.expect(result.returncode == 1, f"a bad file was not refused: {result.stdout}{result.stderr}")
            self._say_output(result)
            ctx.expect(self._consent(self.expiring)["version"] == 0, "a refused file imported something")

    def import_forms(self) -> None:
        ctx = self.ctx
        with ctx.step("The corrected file is imported (python tools/import_legacy.py legacy.csv)"):
            self.expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=SECONDS_TO_EXPIRY)
            path = self._write(
                "legacy.csv",
                f"{self.expiring},who_knows_whom,2021-03-01T10:00:00Z,{rfc3339(self.expires_at)},",
                f"{self.migrating},relationship_analytics,2021-03-01T10:00:00Z,"
                f"{rfc3339(self.expires_at + timedelta(days=60))},{self.sales};{self.interns}",
            )
            self._say_output(self._import(path, expect=0))
        with ctx.step("The operator runs the same file again: nothing changes"):
            self._say_output(self._import(path, expect=0))

    # --- a form runs out ---------------------------------------------------------------------------------

    def expiry(self) -> None:
        ctx, tenant = self.ctx, self.expiring
        with ctx.step(f"Tenant {tenant[:8]}… has only the old 'who knows whom' form"):
            self._features(tenant)
        with ctx.step("Waiting for the form to run out"):
            total = max(1, int((self.expires_at - datetime.now(UTC)).total_seconds()) + 1)
            with ctx.progress(total, "seconds") as bar:
                while datetime.now(UTC) <= self.expires_at:
                    time.sleep(0.25)
                    bar.update(total - int((self.expires_at - datetime.now(UTC)).total_seconds()))
                bar.update(total)
            ctx.say("from the expiry instant the feature is off, before any timer runs:")
            self._features(tenant)
        with ctx.step(f"The maintenance timer runs (POST /admin/functions/{MAINTENANCE})"):
            self._fire()
            legacy = self._consent(tenant)["features"]["who_knows_whom"]["legacy"]
            ctx.say(f"the legacy record is now stored as {legacy['status']}")
            purges = self._purges(tenant)
            for purge in purges:
                scope = purge["scope"].get("feature") or "the whole tenant (data shared by both features)"
                ctx.say(
                    f"purge {purge['id'][:8]}…: {purge['reason']}, {scope}; live data by "
                    f"{purge['liveDeadline'][:16]}, backups by {purge['backupDeadline'][:10]}"
                )
            ctx.expect(any(p["scope"]["kind"] == "feature" for p in purges), "no feature purge was created")
        with ctx.step("The timer runs again: the expiry was recorded once, so nothing more happens"):
            self._fire()
            again = self._purges(tenant)
            ctx.expect(len(again) == len(purges), f"{len(again)} purges after a second run")
            ctx.say(f"still {len(again)} purges")
            shown = {"legacy.expired", "tenant.disabled", "purge.requested"}
            for entry in [e for e in self.client.audit(tenant, limit=50) if e["kind"] in shown]:
                ctx.say(f"audit: {entry['kind']:<16} {entry['outcome']:<8} {entry['detail'] or ''}")

    # --- a tenant grants the new consent -----------------------------------------------------------------

    def migration(self) -> None:
        ctx, tenant = self.ctx, self.migrating
        path = f"/api/tenants/{tenant}/consent"
        with ctx.step(f"Tenant {tenant[:8]}… is on the old analytics form ('Sales-EU' and 'Interns' out)"):
            self._features(tenant)
        with ctx.step("Its admin grants the new consent, opting out 'Contractors' (PUT /consent)"):
            body = self._ok(self.client.put(path, tenant, json={"optedOutGroupIds": [self.contractors]}))
            self._features(tenant, body)
            self._groups(body)
        with ctx.step("An old 'who knows whom' form ('Board' out) is imported after the grant"):
            late = self._write(
                "late.csv", f"{tenant},who_knows_whom,2021-06-01T10:00:00Z,,{self.board}"
            )  # fmt: skip
            self._say_output(self._import(late, expect=0))
            body = self._consent(tenant)
            self._features(tenant, body)
            self._groups(body)
        with ctx.step("The grant is delivered again: nothing is migrated twice"):
            before = self._consent(tenant)["optedOutGroups"]
            after = self._ok(self.client.put(path, tenant, json={}))["optedOutGroups"]
            ctx.expect(after == before, "a repeated grant changed the opt-out list")
            ctx.say(f"the opt-out list still holds {len(after)} groups, each with its first source")

    # --- helpers -----------------------------------------------------------------------------------------

    def _write(self, name: str, *rows: str) -> Path:
        path = self.workdir / name
        path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
        return path

    def _import(self, path: Path, expect: int | None = None) -> subprocess.CompletedProcess[str]:
        azurite = self.ctx.azurite
        if azurite is None:
            raise self.ctx.fail("Azurite is not running")
        # The command reads the app's settings; here the environment holds the demo app's.
        env = {**os.environ, **self.ctx.app_settings, "AzureWebJobsStorage": azurite.connection_string}
        command = [
            sys.executable,
            str(ROOT / "tools" / "import_legacy.py"),
            str(path),
            "--settings",
            "/dev/null/none",
        ]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
        if expect is not None and result.returncode != expect:
            raise self.ctx.fail(f"the import exited {result.returncode}: {result.stdout}{result.stderr}")
        return result

    def _say_output(self, result: subprocess.CompletedProcess[str]) -> None:
        for line in (result.stdout + result.stderr).splitlines():
            self.ctx.say(line.replace(str(self.workdir) + os.sep, ""))

    def _fire(self) -> None:
        outcome = self.ctx.host.fire(MAINTENANCE)
        self.ctx.expect(outcome.get("outcome") == "Succeeded", f"the maintenance timer failed: {outcome}")

    def _ok(self, response: Any) -> dict[str, Any]:
        self.ctx.expect(response.status_code == 200, f"{response.status_code}: {response.text}")
        body: dict[str, Any] = response.json()
        return body

    def _consent(self, tenant: str) -> dict[str, Any]:
        return self._ok(self.client.get(f"/api/tenants/{tenant}/consent", tenant))

    def _purges(self, tenant: str) -> list[dict[str, Any]]:
        purges: list[dict[str, Any]] = self._ok(self.client.get(f"/api/tenants/{tenant}/purges", tenant))[
            "purges"
        ]
        return purges

    def _features(self, tenant: str, body: dict[str, Any] | None = None) -> None:
        for name, feature in (body or self._consent(tenant))["features"].items():
            legacy = feature["legacy"]
            note = f"; legacy form {legacy['status']}, expires {legacy['expiresAt']}" if legacy else ""
            self.ctx.say(f"{name}: enabled={feature['enabled']} (basis: {feature['basis']}{note})")

    def _groups(self, body: dict[str, Any]) -> None:
        for group in body["optedOutGroups"]:
            self.ctx.say(f"opted-out group {self.names[group['groupId']]}: source {group['source']}")
