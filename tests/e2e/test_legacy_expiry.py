"""End to end: an operator imports a legacy record expiring seconds from now with the import command, the
maintenance timer is fired through the local host (POST /admin/functions/maintenance), and the API shows
the feature disabled, the expiry recorded once, and a feature purge created."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devhost.azurite import ROOT
from tests.conftest import base_env
from tests.support.admin_center import rfc3339
from tests.support.apphost import AppHost
from tests.support.consent_client import ConsentClient, Identity

pytestmark = pytest.mark.e2e

# Enough for the import command (a Python start-up) and two requests on a loaded machine: the first reads
# and the first timer run must happen before the expiry.
SECONDS_TO_EXPIRY = 12


@pytest.fixture(scope="module")
def client(app_host_factory: Any, identity: Identity) -> ConsentClient:
    host: AppHost = app_host_factory(**identity.host_settings())
    return ConsentClient(host, identity)


def import_command(path: Path, connection_string: str) -> subprocess.CompletedProcess[str]:
    """`python tools/import_legacy.py FILE`, with the app's storage setting in its environment."""
    env = {**os.environ, **base_env(connection_string)}
    command = [
        sys.executable,
        str(ROOT / "tools" / "import_legacy.py"),
        str(path),
        "--settings",
        "/nonexistent",
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)


def fire_maintenance(client: ConsentClient) -> dict[str, Any]:
    host: AppHost = client.host  # type: ignore[assignment]
    outcome = host.fire("maintenance")
    assert outcome["outcome"] == "Succeeded", outcome
    return outcome


def feature_purges(client: ConsentClient, tenant_id: str) -> list[dict[str, Any]]:
    purges = client.get(f"/api/tenants/{tenant_id}/purges", tenant_id).json()["purges"]
    return [p for p in purges if p["reason"] == "legacy-expired" and p["scope"]["kind"] == "feature"]


def test_an_imported_legacy_record_expires_through_the_maintenance_timer(
    client: ConsentClient, storage_connection_string: str, tenant_id: str, tmp_path: Path
) -> None:
    expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=SECONDS_TO_EXPIRY)
    records = tmp_path / "legacy.csv"
    records.write_text(
        "tenantId,feature,grantedAt,expiresAt,optedOutGroupIds\n"
        f"{tenant_id},who_knows_whom,2021-03-01T10:00:00Z,{rfc3339(expires_at)},\n",
        encoding="utf-8",
    )
    imported = import_command(records, storage_connection_string)
    assert imported.returncode == 0, imported.stderr
    consent = f"/api/tenants/{tenant_id}/consent"
    before = client.get(consent, tenant_id).json()["features"]["who_knows_whom"]
    assert (before["enabled"], before["basis"], before["legacy"]["expiresAt"]) == (
        True,
        "legacy",
        rfc3339(expires_at),
    )

    fire_maintenance(client)  # before the expiry: nothing to do
    assert feature_purges(client, tenant_id) == []

    time.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds()) + 0.5)
    fire_maintenance(client)
    after = client.get(consent, tenant_id).json()["features"]["who_knows_whom"]
    [purge] = feature_purges(client, tenant_id)
    assert (after["enabled"], after["basis"], after["legacy"]["status"]) == (False, "none", "expired")
    assert purge["scope"]["feature"] == "who_knows_whom"
    assert purge["liveDeadline"] > purge["requestedAt"]

    fire_maintenance(client)  # again: the record expired once, its purge exists once
    assert len(feature_purges(client, tenant_id)) == 1
    kinds = [entry["kind"] for entry in client.audit(tenant_id)]
    assert kinds.count("legacy.expired") == 1
