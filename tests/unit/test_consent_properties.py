"""Invariants over any sequence of admin-center events, delivered through the real services (in memory).

- A stale event (older than the last change applied to its subject) never changes any state; the one thing
  it may add is the purge a withdrawal or an opt-out implies (of its tenant, its user, or its groups).
- An excluded user stays excluded until a newer event about the same subject includes them again.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from functions.domain.consent import legacy_excluded_groups
from functions.domain.events import parse_event
from functions.domain.inclusion import GroupMembership, TenantInclusion
from functions.domain.purge import GroupScope, PurgeTarget
from functions.domain.scope import Scope
from tests.support import admin_center as ac
from tests.support.container import Services

BASE = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
NOW = BASE + timedelta(days=1)
TENANT = str(uuid.uuid4())
ALICE, BOB = str(uuid.uuid4()), str(uuid.uuid4())
GROUPS = [str(uuid.uuid4()) for _ in range(4)]
G_ALICE = GROUPS[0]  # the group Alice is a transitive member of

minutes = st.integers(min_value=-600, max_value=600)
group_sets = st.lists(st.sampled_from(GROUPS), unique=True, max_size=4)


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    at = BASE + timedelta(minutes=draw(minutes))
    kind = draw(st.sampled_from(["granted", "revoked", "groups", "user", "legacy"]))
    if kind == "granted":
        return ac.granted(TENANT, at, draw(group_sets))
    if kind == "revoked":
        return ac.revoked(TENANT, at)
    if kind == "groups":
        return ac.groups_replaced(TENANT, draw(group_sets), at)
    if kind == "user":
        return ac.user_changed(TENANT, draw(st.sampled_from([ALICE, BOB])), at, opted_out=draw(st.booleans()))
    feature = draw(st.sampled_from(["relationship_analytics", "who_knows_whom"]))
    return ac.legacy_imported(
        TENANT, feature, at, granted_at=BASE - timedelta(days=400), expires_at=NOW + timedelta(days=30),
        groups=draw(group_sets),
    )  # fmt: skip


def deliver(services: Services, document: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(document).encode()
    response = services.webhooks.deliver(f"msg_{uuid.uuid4().hex}", body, parse_event(document, NOW), NOW)
    return response.body


def state(services: Services) -> Any:
    """Everything a change could touch, except the audit log (where a stale event is recorded) and the purge
    requests (`implied_purges`)."""
    return copy.deepcopy(
        (
            services.consents.table.rows,
            services.consents.changes,
            services.optouts.table.rows,
            dataclasses.replace(services.queues, purges=[]),
        )
    )


def implied_purges(document: dict[str, Any]) -> Any:
    """Whether a purge of `scope` is one that `document`, stale, may still ask for."""
    data, event_type = document["data"], document["type"]
    groups = frozenset(data.get("groupIds", data.get("optedOutGroupIds", [])))

    def implied(scope: PurgeTarget) -> bool:
        if isinstance(scope, GroupScope):
            return event_type in ("consent.granted", "optout.groups.replaced") and scope.group_ids <= groups
        if event_type == "consent.revoked":
            return scope == Scope("tenant", TENANT)
        return event_type == "optout.user.changed" and data["optedOut"] and scope.user_id == data["userId"]

    return implied


def last_change_of(services: Services, document: dict[str, Any]) -> datetime | None:
    """The ordering key of the subject `document` is about; of both, for a grant that also opts out groups
    (the group list is a subject of its own)."""
    data, event_type = document["data"], document["type"]
    groups_key = services.optouts.load_groups(TENANT).groups.last_event_time
    if event_type in ("consent.granted", "consent.revoked"):
        consent_key = services.consents.load(TENANT).consent.last_event_time
        if event_type == "consent.granted" and data.get("optedOutGroupIds"):
            return min(consent_key, groups_key) if consent_key and groups_key else None
        return consent_key
    if event_type == "optout.groups.replaced":
        return groups_key
    if event_type == "optout.user.changed":
        user = services.optouts.load_user(TENANT, data["userId"]).user
        return user.last_event_time if user else None
    record = services.consents.load(TENANT).consent.legacy.get(data["feature"])
    return record.imported.event_time if record else None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=st.lists(events(), min_size=1, max_size=12), late=events(), lag=st.integers(1, 10_000))
def test_a_stale_event_never_changes_state(
    history: list[dict[str, Any]], late: dict[str, Any], lag: int
) -> None:
    services = Services()
    for document in history:
        deliver(services, document)
    # `late`, or else the first event of the history whose subject has a last change: made stale
    candidates = [(d, last_change_of(services, d)) for d in (late, *history)]
    found = next(((d, last) for d, last in candidates if last is not None), None)
    assume(found is not None)
    assert found is not None
    late, last = found
    stale = copy.deepcopy(late) | {
        "id": f"evt-{uuid.uuid4()}",
        "time": ac.rfc3339(last - timedelta(seconds=lag)),
    }
    before, purges_before, queued_before = state(services), services.purges.records, [*services.queues.purges]

    response = deliver(services, stale)

    assert response["outcome"] == "stale"
    assert state(services) == before
    purges = services.purges.records
    assert {key: purges[key] for key in purges_before} == purges_before
    requested = [record for key, record in purges.items() if key not in purges_before]
    assert all(implied_purges(stale)(record.scope) for record in requested)
    assert services.queues.purges == queued_before + [
        {"tenantId": TENANT, "purgeId": r.id} for r in requested
    ]
    assert any(e.outcome == "stale" and e.event_id == stale["id"] for e in services.audit.of(TENANT))


def excluded(services: Services, user_id: str, member_of: frozenset[str]) -> bool:
    """Not included by the one decision, with the user's groups resolved (and no purge in the way: this is
    about the consent and opt-out rules)."""
    consent = services.consents.load(TENANT).consent
    groups = services.optouts.load_groups(TENANT).groups
    in_force = groups.ids | legacy_excluded_groups(consent, NOW)
    membership = GroupMembership(in_force, {user_id.lower(): member_of}, groups.version, NOW)
    users = services.optouts.users(TENANT)
    return not TenantInclusion.of(consent, groups, users, membership, [], NOW).decide(user_id).included


def reincludes(document: dict[str, Any], exclusion: str) -> bool:
    """Whether `document` is an event that may legitimately include Alice again (when newer)."""
    data = document["data"]
    if exclusion == "user":
        return document["type"] == "optout.user.changed" and data["userId"] == ALICE and not data["optedOut"]
    if exclusion == "group":
        return document["type"] == "optout.groups.replaced" and G_ALICE not in data["groupIds"]
    return document["type"] == "consent.granted"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    before=st.lists(events(), max_size=6),
    exclusion=st.sampled_from(["user", "group", "revocation"]),
    after=st.lists(events(), max_size=12),
)
def test_an_excluded_user_stays_excluded_until_a_newer_event_includes_them(
    before: list[dict[str, Any]], exclusion: str, after: list[dict[str, Any]]
) -> None:
    services = Services()
    for document in before:
        deliver(services, document)
    at = BASE + timedelta(hours=11)  # newer than anything generated, so the exclusion applies
    excluding = {
        "user": ac.user_changed(TENANT, ALICE, at, opted_out=True),
        "group": ac.groups_replaced(TENANT, [G_ALICE], at),
        "revocation": ac.revoked(TENANT, at),
    }[exclusion]
    deliver(services, excluding)
    assert excluded(services, ALICE, frozenset({G_ALICE}))

    for document in after:
        older = {"time": ac.rfc3339(at - timedelta(minutes=1))}
        deliver(services, document | older if reincludes(document, exclusion) else document)
        assert excluded(services, ALICE, frozenset({G_ALICE}))
