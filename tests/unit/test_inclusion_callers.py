"""Every part of the app that touches a person's data agrees on who is in: random states of consent, opt-outs,
group lists, resolved membership and unfinished purges, driven through the ingestion fence, scheduling, the
backup job, both insights, introductions, restore and the purge's resume hook. In every state, each caller's
answer for each user is the one inclusion decision's, and an excluded person never appears in an insight, a
backup or a restored slice (in-memory stores; the Table adapters are tested on Azurite)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.domain.consent import TenantConsent, grant, import_legacy, revoke
from functions.domain.contacts import contact_hash
from functions.domain.errors import Forbidden, MembershipPending, NotFound
from functions.domain.events import Provenance
from functions.domain.inclusion import GroupMembership, TenantInclusion
from functions.domain.ingestion import INCREMENTAL, UserProfile
from functions.domain.insights import relationship_kpis
from functions.domain.interactions import Interaction
from functions.domain.optouts import GroupOptOuts, change_user, replace_groups
from functions.domain.purge import PurgeRecord, new_purge
from functions.domain.records import DirectoryUser
from functions.domain.scope import Scope
from functions.services.backup import BackupService
from functions.services.ingestion import IngestionWorker, WindowRequest
from functions.services.insights import InsightService
from functions.services.membership import MembershipService
from functions.services.purge import PurgeService
from functions.services.restore import RestoreService
from functions.services.scheduling import ResumeAfterPurge, SchedulingService
from tests.support.memory_ingestion import (
    DirectoryGraph,
    MemoryBackupStore,
    MemoryContactStore,
    MemoryCursorStore,
    MemoryIntroductionStore,
    MemorySliceStore,
    backup_record,
)
from tests.support.memory_stores import Services
from tests.support.purge_fakes import StaticMembers

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
    return Provenance("admin", None, f"evt-{uuid.uuid4()}", at, "api", at)


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


def fact(user: str, index: int) -> Interaction:
    return Interaction(
        key=f"m{index}", kind="email", user_id=user, contact=CONTACT, at=NOW - timedelta(days=index + 1),
        direction="received", user_role="reader", contact_role="author", conversation=f"c{index}",
        minutes=0.0,
    )  # fmt: skip


class World:
    """The stores in a random state, and every caller wired to them as bootstrap wires them."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.services = Services(group_policy="retain")
        s = self.services
        consent = consent_of(state.consent)
        s.consents.save(consent, None, [])
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
            s.optouts.save_user(opted, None)
        listed = replace_groups(GroupOptOuts(TENANT), state.listed, change()).groups
        s.optouts.save_groups(listed, None)
        stored = {u: frozenset(g for g in state.resolved if u in state.members[g]) for u in USERS}
        s.optouts.save_membership(
            TENANT,
            GroupMembership(state.resolved, {u: g for u, g in stored.items() if g}, listed.version, NOW),
        )
        for record in self.unfinished_purges():
            s.purges.create(record)
        self.cursors, self.slices = MemoryCursorStore(), MemorySliceStore()
        self.introductions = MemoryIntroductionStore()
        self.sent = _Sent()
        self.contacts, self.backups = MemoryContactStore(), MemoryBackupStore()
        self.graph = DirectoryGraph(
            [DirectoryUser(u, f"User {i}", f"user{i}@contoso.com", f"user{i}@contoso.com") for i, u in
             enumerate(USERS)],
            {g: set(state.members[g]) for g in GROUPS},
        )  # fmt: skip
        for index, user in enumerate(USERS):  # everyone's data from before anything excluded them
            facts = [fact(user, index)]
            self.slices.write(TENANT, user, facts, "seed")
            self.contacts.write(TENANT, facts, "seed")
            self.backups.write(TENANT, user, DAY, [backup_record(f) for f in facts])
        self.cursors.save_profiles(
            UserProfile(
                TENANT,
                u,
                f"User {i}",
                f"user{i}@contoso.com",
                f"user{i}@contoso.com",
                present=True,
                seen_at=NOW,
            )
            for i, u in enumerate(USERS)
        )

    def unfinished_purges(self) -> list[PurgeRecord]:
        scopes = [Scope("user", TENANT, user_id=u) for u in sorted(self.state.user_purges)]
        if self.state.tenant_purge:
            scopes.append(Scope("tenant", TENANT))
        return [
            replace(new_purge(scope, "user-opt-out", change()), status="live-deleted") for scope in scopes
        ]

    def inclusion(self) -> TenantInclusion:
        return self.services.inclusion.tenant(TENANT, NOW)

    # --- the callers --------------------------------------------------------------------------------------

    def fence_answers(self) -> dict[str, bool | str]:
        worker = IngestionWorker(
            self.services.inclusion, self.slices, self.contacts, self.cursors,  # type: ignore[arg-type]
            requests=self.services.queues, audit=self.services.audit, graph_factory=lambda: self.graph,
            contact_hash_key=KEY, clock=lambda: NOW,
        )  # fmt: skip
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
        service = BackupService(
            self.services.inclusion, self.cursors, self.slices,  # type: ignore[arg-type]
            backups=backups, tenants=self.services.consents, audit=self.services.audit,  # type: ignore[arg-type]
        )  # fmt: skip
        service.back_up_tenant(TENANT, NOW)
        # Not even a copy that was taken back afterwards: an excluded person's data is never copied.
        return {u: any(name.startswith(f"{TENANT}/{u}/") for name in backups.written) for u in USERS}

    def insights(self) -> InsightService:
        return InsightService(
            self.services.inclusion, self.contacts, self.cursors, self.introductions,
            contact_hash_key=KEY,
        )  # fmt: skip

    def insight_answers(self) -> tuple[dict[str, bool], dict[str, object] | None]:
        try:
            who = self.insights().who_knows_whom(TENANT, ADDRESS, NOW)
            relationship = self.insights().relationship(TENANT, ADDRESS, NOW)
        except NotFound:
            return dict.fromkeys(USERS, False), None
        shown = {c["userId"] for c in who["colleagues"]}
        return {u: u in shown for u in USERS}, relationship

    def introduction_answers(self) -> dict[str, bool | str]:
        answers: dict[str, bool | str] = {}
        for user in USERS:
            try:
                self.insights().introduce(TENANT, ADDRESS, self.colleague(), user, NOW)
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
        purge = PurgeService(self.services.purges, _NoStores(), self.services.audit, StaticMembers())  # type: ignore[arg-type]
        restore = RestoreService(
            self.backups, slices, MemoryContactStore(), _NoPurges(), purge,  # type: ignore[arg-type]
            inclusion=self.services.inclusion, audit=self.services.audit,
        )  # fmt: skip
        restore.restore(TENANT, DAY, NOW)
        return {u: any(w[1] == u for w in slices.writes) for u in USERS}

    def resume_answers(self) -> dict[str, bool]:
        resume = ResumeAfterPurge(self.services.inclusion, self.services.queues)
        done = replace(new_purge(Scope("user", TENANT, user_id=USERS[0]), "user-opt-out", change()))
        answers = {}
        for user in USERS:
            record = replace(done, scope=Scope("user", TENANT, user_id=user), status="completed")
            answers[user] = resume(record, NOW)
        return answers

    def schedule(self) -> set[str]:
        s = self.services
        membership = MembershipService(
            s.consents, s.optouts, self.cursors, s.queues, purge_requests=_purge_requests(s),  # type: ignore[arg-type]
            audit=s.audit, graph_factory=lambda: self.graph, group_policy="retain",
        )  # fmt: skip
        scheduler = SchedulingService(
            s.inclusion, membership, self.cursors, s.consents,  # type: ignore[arg-type]
            queues=self.sent, requests=s.queues, audit=s.audit, graph_factory=lambda: self.graph,
        )  # fmt: skip
        scheduler.schedule_tenant(TENANT, NOW)
        return {str(m["userId"]) for m in self.sent.messages if m.get("type") == "window"}


class _Sent:
    def __init__(self) -> None:
        self.messages: list[dict[str, object]] = []

    def send(self, queue: str, message: dict[str, object]) -> None:
        self.messages.append(dict(message))


class _NoStores:
    live: tuple[object, ...] = ()
    backups: tuple[object, ...] = ()


class _NoPurges:
    def list(self, tenant_id: str) -> list[PurgeRecord]:
        return []


def _purge_requests(services: Services) -> object:
    from functions.services.consent import PurgeRequests  # noqa: PLC0415  (only the scheduler needs it)

    return PurgeRequests(services.purges, services.queues, services.audit)


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
    included_facts = [f for f in world.contacts.facts(TENANT, CONTACT) if inclusion.includes(f.user_id)]
    if relationship is None:
        assert not included_facts
        return
    unknown = any(inclusion.decide(u).transient for u in USERS)
    expected = relationship_kpis(included_facts, NOW, partial=unknown).to_json()
    assert {k: relationship[k] for k in expected} == expected


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
        assert set(world.cursors.profiles(TENANT)) == {u for u in USERS if after.includes(u)}
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
