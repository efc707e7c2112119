"""What the purge API shows of a purge the purge function has worked on, and the fence's relation to the
host's function timeout."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from jsonschema import Draft202012Validator

from functions.domain.events import Provenance
from functions.domain.purge import GroupScope, PurgeRecord, PurgeStep, new_purge
from functions.domain.purge_subscriptions import GraphSubscriptions, PendingSubscription
from functions.domain.scope import Scope
from functions.entrypoints.consent_views import purge_view
from functions.entrypoints.openapi import document
from functions.services.purge import FENCE_DELAY, INGESTION_MAX_RUNTIME, LEASE

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
TENANT, MEMBER = str(uuid.uuid4()), str(uuid.uuid4())
HOST_JSON = Path(__file__).resolve().parents[2] / "host.json"


def worked_on(scope: Scope | GroupScope) -> PurgeRecord:
    provenance = Provenance("admin", f"evt-{uuid.uuid4()}", T0, "webhook", T0)
    return replace(
        new_purge(scope, "consent-revoked", provenance),
        status="verified",
        steps=(PurgeStep("live-deleted", T0, {"slices": 4}, 12), PurgeStep("verified", T0, {"slices": 0}, 3)),
        counts={"slices": 4},
        started_at=T0,
        fence_at=T0 + FENCE_DELAY,
        attempts=2,
        verification={"slices": 0, "backups": 0},
        deadline_flags=("live-deadline-near",),
        last_error="StorageUnavailable: storage did not answer",
        verified_at=T0,
    )


def test_a_purge_in_progress_matches_the_purge_schema() -> None:
    validator = Draft202012Validator(
        {"$ref": "#/components/schemas/Purge", "components": document()["components"]}
    )
    for record in (
        worked_on(Scope("tenant", TENANT)),
        replace(worked_on(GroupScope(TENANT, frozenset({MEMBER}))), members=(MEMBER,)),
    ):
        validator.validate(purge_view(record))


def test_the_view_shows_progress_verification_and_deadline_flags() -> None:
    view = purge_view(worked_on(Scope("tenant", TENANT)))
    assert view["sweepAt"] == "2026-11-27T09:12:00Z"
    assert (view["verification"], view["deadlineFlags"], view["attempts"]) == (
        {"slices": 0, "backups": 0},
        ["live-deadline-near"],
        2,
    )
    assert [s["durationMs"] for s in view["steps"]] == [12, 3]


def test_the_sweep_waits_longer_than_any_function_can_run() -> None:
    timeout = json.loads(HOST_JSON.read_text())["functionTimeout"]
    match = re.fullmatch(r"(\d+):(\d+):(\d+)", timeout)
    assert match is not None
    hours, minutes, seconds = (int(part) for part in match.groups())
    host_timeout = timedelta(hours=hours, minutes=minutes, seconds=seconds)
    assert host_timeout <= INGESTION_MAX_RUNTIME
    assert host_timeout < FENCE_DELAY
    assert host_timeout <= LEASE


def waiting_for_graph() -> PurgeRecord:
    failed = PurgeStep(
        "subscriptions-not-removed-at-graph", T0, {"deleted": 0, "pending": 2}, 30, "GraphError"
    )
    graph = GraphSubscriptions(
        state="pending",
        pending=(
            PendingSubscription(str(uuid.uuid4()), T0 + timedelta(hours=20)),
            PendingSubscription(str(uuid.uuid4()), T0 + timedelta(days=2)),
        ),
        unseen_until=T0 + FENCE_DELAY + timedelta(days=3),
        attempts=1,
        last_attempt_at=T0,
        last_error="GraphError",
    )
    record = worked_on(Scope("tenant", TENANT))
    return replace(record, status="swept", steps=(failed, *record.steps), graph_subscriptions=graph)


def test_a_purge_waiting_for_graph_matches_the_purge_schema() -> None:
    validator = Draft202012Validator(
        {"$ref": "#/components/schemas/Purge", "components": document()["components"]}
    )
    validator.validate(purge_view(waiting_for_graph()))


def test_the_view_says_what_graph_did_not_confirm_and_until_when_without_the_subscription_ids() -> None:
    record = waiting_for_graph()
    view = purge_view(record)
    assert view["graphSubscriptions"] == {
        "state": "pending",
        "verifiedAtGraph": False,
        "deleted": 0,
        "pending": 2,
        "stopsBy": "2026-11-30T09:12:00Z",
        "nextAttemptAt": "2026-11-27T09:30:00Z",
        "attempts": 1,
        "lastAttemptAt": "2026-11-27T09:00:00Z",
        "lastError": "GraphError",
    }
    assert view["steps"][0]["error"] == "GraphError"
    assert record.graph_subscriptions is not None
    assert not any(p.subscription_id in json.dumps(view) for p in record.graph_subscriptions.pending)
