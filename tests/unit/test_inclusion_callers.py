"""Every part of the app that touches a person's data agrees on who is in: random states of consent, opt-outs,
group lists, resolved membership and unfinished purges, driven through the ingestion fence, scheduling, the
backup job, both insights, introductions, restore and the purge's resume hook. In every state, each caller's
answer for each user is the one inclusion decision's, and an excluded person never appears in an insight, a
backup or a restored slice (in-memory stores; the Table adapters are tested on Azurite)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.bootstrap import Container
from functions.domain.consent import TenantConsent, grant, import_legacy, revoke
from functions.domain.contacts import contact_hash
from functions.domain.errors import Forbidden, MembershipPending, NotFound
from functions.domain.events import Provenance
from functions.domain.inclusion import GroupMembership, TenantInclusion
from functions.domain.ingestion import INCREMENTAL, UserProfile
from functions.domain.insights import relationship_kpis
from functions.domain.interactions import Interaction
from functions.domain.metadata import DirectoryUser
from functions.domain.optouts import GroupOptOuts, change_user, replace_groups
from functions.domain.purge import PurgeRecord, new_purge
from functions.domain.scope import Scope
from functions.services.ingestion import WindowRequest
from functions.services.insights import RelationshipAnswer
from tests.support.container import app_settings, memory_container
from tests.support.memory_ingestion import (
    DirectoryGraph,
    MemoryBackupStore,
    MemoryContactStore,
    MemoryCursorStore,
    MemorySliceStore,
)

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
TENANT = "7e1a5c3b-0b7d-4a8e-9f61-2c4d5e6f7a8b"
USERS = tuple(str(uuid.UUID(int=0x1000 + i)) for i in range(5))
GROUPS = tuple(str(uuid.UUID(int=0x2000 + i)) for i in range(3))
KEY = b"k" * 32
ADDRESS = "buyer@customer.example"
CONTACT = contact_hash(KEY, TENANT, ADDRESS)
DAY = NOW.date()


@dataclass(frozen=True)
class State:
    consent: str  # none | granted | revoked | legacy (legacy records in force, excluding GROUPS[2])
    opted_out: frozenset[str]
    opted_back_in: frozenset[str]
    listed: frozenset[str]  # the tenant's opted-out groups
    members: dict[str, frozenset[str]]  # the truth Graph knows: group -> users
    resolved: frozenset[str]  # the groups the stored resolution covers
    tenant_purge: bool  # an unfinished tenant purge
    user_purges: frozenset[str]  # users with an unfinished purge


@st.composite
def states(draw: st.DrawFn) -> State:
    users = st.frozensets(st.sampled_from(USERS))
    groups = st.frozensets(st.sampled_from(GROUPS))
    out = draw(users)
    return State(
        consent=draw(st.sampled_from(("none", "granted", "granted", "granted", "revoked", "legacy"))),
        opted_out=out,
        opted_back_in=draw(users) - out,
        listed=draw(groups),
        members={g: draw(users) for g in GROUPS},
        resolved=draw(groups),
        tenant_purge=draw(st.booleans()) and draw(st.booleans()),
        user_purges=draw(users),
    )


def change(at: datetime = NOW - timedelta(days=2)) -> Provenance:
    return Provenance("admin", f"evt-{uuid.uuid4()}", at, "api", at)


def consent_of(kind: str) -> TenantConsent:
    consent = TenantConsent(TENANT)
    if kind == "legacy":
        for feature in ("relationship_analytics", "who_knows_whom"):
            consent = import_legacy(
                consent, feature, granted_at=NOW - timedelta(days=100),
                expires_at=NOW + timedelta(days=100), opted_out_group_ids=frozenset({GROUPS[2]}),
                provenance=change(),
            ).consent  # fmt: skip
        return consent
    if kind == "none":
        return consent
    granted = grant(consent, change()).consent
    return revoke(granted, change(NOW - timedelta(days=1)), "p").consent if kind == "revoked" else granted


def interaction(user: str, index: int) -> Interaction:
    return Interaction(
        key=f"m{index}", kind="email", user_id=user, contact=CONTACT, at=NOW - timedelta(days=index + 1),
        direction="received", user_role="reader", contact_role="author", conversation=f"c{index}",
        minutes=0.0,
    )  # fmt: skip


class World:
    """The stores in a random state, and every caller wired to them as bootstrap wires them."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.graph = DirectoryGraph(
            [DirectoryUser(u, f"User {i}", f"user{i}@contoso.com", f"user{i}@contoso.com") for i, u in
             enumerate(USERS)],
            {g: set(state.members[g]) for g in GROUPS},
        )  # fmt: skip
        self.c = memory_container(
            settings=app_settings(CONTACT_HASH_KEY=KEY.decode(), GROUP_OPTOUT_EXISTING_DATA="retain"),
            clock=lambda: NOW, graph_factory=lambda: self.graph,
        )  # fmt: skip
        c = self.c
        c.consent_store.save(consent_of(state.consent), None, [])
        for user in state.opted_out | state.opted_back_in:
            opted = change_user(
                None, tenant_id=TENANT, user_id=user, opted_out=True, provenance=change(), purge_id="p"
            ).user
            assert opted is not None
            if user in state.opted_back_in:
                opted = change_user(
                    opted, tenant_id=TENANT, user_id=user, opted_out=False,
                    provenance=change(NOW - timedelta(days=1)), purge_id="p",
                ).user  # fmt: skip
            assert opted is not None
            c.optout_store.save_user(opted, None)
        listed = replace_groups(GroupOptOuts(TENANT), state.listed, change()).groups
        c.optout_store.save_groups(listed, None)
        stored = {u: frozenset(g for g in state.resolved if u in state.members[g]) for u in USERS}
        c.optout_store.save_membership(
            TENANT,
            GroupMembership(state.resolved, {u: g for u, g in stored.items() if g}, listed.version, NOW),
        )
        for record in self.unfinished_purges():
            c.purge_store.create(record)
        for index, user in enumerate(USERS):  # everyone's data from before anything excluded them
            interactions = [interaction(user, index)]
            c.slice_store.write(TENANT, user, interactions, "seed")
            c.contact_store.write(TENANT, interactions, "seed")
            c.backup_store.write(TENANT, user, DAY, interactions)
        c.cursor_store.save_profiles(
            UserProfile(
                TENANT, u, f"User {i}", f"user{i}@contoso.com", f"user{i}@contoso.com", present=True,
                seen_at=NOW,
            )
            for i, u in enumerate(USERS)
        )  # fmt: skip

    def variant(self, **parts: Any) -> Container:
        """The same decision facts and data, with some parts of its own (so one caller cannot disturb the
        next: a restore's re-applied purges delete, a backup writes)."""
        c = self.c
        shared = {
            name: getattr(c, name)
            for name in (
                "consent_store", "optout_store", "purge_store", "audit_log", "work_queues", "cursor_store",
                "slice_store", "contact_store", "introduction_store", "backup_store",
            )
        }  # fmt: skip
        return memory_container(
            settings=c.settings, clock=lambda: NOW, graph_factory=lambda: self.graph, **(shared | parts)
        )

    def unfinished_purges(self) -> list[PurgeRecord]:
        scopes = [Scope("user", TENANT, user_id=u) for u in sorted(self.state.user_purges)]
        if self.state.tenant_purge:
            scopes.append(Scope("tenant", TENANT))
        return [
            replace(new_purge(scope, "user-opt-out", change()), status="live-deleted") for scope in scopes
        ]

    def inclusion(self) -> TenantInclusion:
        return self.c.inclusion.tenant(TENANT, NOW)

    # --- the callers --------------------------------------------------------------------------------------

    def fence_answers(self) -> dict[str, bool | str]:
        worker = self.c.ingestion_worker
        answers: dict[str, bool | str] = {}
        for user in USERS:
            try:
                status = worker.run(WindowRequest(TENANT, user, INCREMENTAL, NOW - timedelta(days=1), None))
            except MembershipPending:
                answers[user] = "pending"
            else:
                answers[user] = status == "succeeded"
        return answers

    def backup_answers(self) -> dict[str, bool]:
        backups = MemoryBackupStore()
        self.variant(backup_store=backups).backup_service.back_up_tenant(TENANT, NOW)
        # Not even a copy that was taken back afterwards: an excluded person's data is never copied.
        return {u: any(name.startswith(f"{TENANT}/{u}/") for name in backups.written) for u in USERS}

    def insight_answers(self) -> tuple[dict[str, bool], RelationshipAnswer | None]:
        insights = self.c.insight_service
        try:
            who = insights.who_knows_whom(TENANT, ADDRESS, NOW)
            relationship = insights.relationship(TENANT, ADDRESS, NOW)
        except NotFound:
            return dict.fromkeys(USERS, False), None
        shown = {c.user_id for c in who.colleagues}
        return {u: u in shown for u in USERS}, relationship

    def introduction_answers(self) -> dict[str, bool | str]:
        answers: dict[str, bool | str] = {}
        for user in USERS:
            try:
                self.c.insight_service.introduce(TENANT, ADDRESS, self.colleague(), user, NOW)
            except Forbidden:
                answers[user] = False
            except MembershipPending:
                answers[user] = "pending"
            except NotFound:
                answers[user] = "no-colleague"
            else:
                answers[user] = True
        return answers

    def colleague(self) -> str:
        included = [u for u in USERS if self.inclusion().includes(u)]
        return included[0] if included else USERS[0]

    def restore_answers(self) -> dict[str, bool]:
        slices = MemorySliceStore()
        own = self.variant(
            slice_store=slices, contact_store=MemoryContactStore(), cursor_store=MemoryCursorStore()
        )
        own.restore_service.restore(TENANT, DAY, NOW)
        return {u: any(w[1] == u and w[2] == "restore" for w in slices.writes) for u in USERS}

    def resume_answers(self) -> dict[str, bool]:
        resume = self.c.purge_completed
        done = new_purge(Scope("user", TENANT, user_id=USERS[0]), "user-opt-out", change())
        answers = {}
        for user in USERS:
            record = replace(done, scope=Scope("user", TENANT, user_id=user), status="completed")
            answers[user] = resume(record, NOW)
        return answers

    def schedule(self) -> set[str]:
        self.c.scheduling_service.schedule_tenant(TENANT, NOW)
        return {str(m["userId"]) for m in self.c.work_queues.windows if m.get("type") == "window"}


RUNS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@RUNS
@given(states())
def test_the_fence_backups_insights_introductions_restore_and_resume_agree_with_the_decision(
    state: State,
) -> None:
    world = World(state)
    inclusion = world.inclusion()
    decided = {u: inclusion.decide(u) for u in USERS}
    expected = {u: d.included for u, d in decided.items()}
    pending = {u: "pending" if d.transient else d.included for u, d in decided.items()}

    assert world.fence_answers() == pending
    assert world.backup_answers() == expected
    assert world.restore_answers() == expected
    assert world.resume_answers() == expected
    shown, _ = world.insight_answers()
    assert shown == expected
    introductions = world.introduction_answers()
    if any(expected.values()):
        assert introductions == pending
    else:
        assert set(introductions.values()) <= {"no-colleague", "pending", False}


@RUNS
@given(states())
def test_no_insight_counts_anything_of_a_person_who_is_not_included(state: State) -> None:
    world = World(state)
    inclusion = world.inclusion()
    _, relationship = world.insight_answers()
    included_interactions = [
        f for f in world.c.contact_store.interactions(TENANT, CONTACT) if inclusion.includes(f.user_id)
    ]
    if relationship is None:
        assert not included_interactions
        return
    unknown = any(inclusion.decide(u).transient for u in USERS)
    assert relationship.kpis == relationship_kpis(included_interactions, NOW, partial=unknown)


@RUNS
@given(states())
def test_scheduling_queues_work_exactly_for_the_users_included_once_membership_is_resolved(
    state: State,
) -> None:
    world = World(state)
    scheduled = world.schedule()
    after = world.inclusion()  # scheduling stored a fresh resolution of every group in force
    assert after.membership_fresh or not after.tenant_decision().included
    assert scheduled == {u for u in USERS if after.includes(u)}
    if after.tenant_decision().included:  # a tenant that is out is its tenant purge's to clean
        assert set(world.c.cursor_store.profiles(TENANT)) == {u for u in USERS if after.includes(u)}
    else:
        assert world.graph.calls == []  # nothing is read of a tenant that is out


@pytest.mark.parametrize("user", USERS[:1])
def test_a_user_opted_out_in_a_granted_tenant_is_out_for_every_caller(user: str) -> None:
    state = State("granted", frozenset({user}), frozenset(), frozenset(), dict.fromkeys(GROUPS, frozenset()),
                  frozenset(), tenant_purge=False, user_purges=frozenset())  # fmt: skip
    world = World(state)
    assert world.fence_answers()[user] is False
    assert world.backup_answers()[user] is False
    assert world.insight_answers()[0][user] is False
    assert world.restore_answers()[user] is False
    assert world.resume_answers()[user] is False
