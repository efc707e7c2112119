"""What a resolution of the opted-out groups settles for the users it finds in them
(functions/services/membership.py): with GROUP_OPTOUT_EXISTING_DATA=purge, every member of whom data may
exist is covered by a purge (the group's own, or one of theirs) before their profile is forgotten; with
`retain`, members are excluded and nothing of theirs is purged.

Each story runs through the app's own services over in-memory stores: the directory and group memberships
in a `DirectoryGraph` (what the resolution sees), and what the group purge's own Graph resolution sees in
`StaticMembers`, so the two can disagree the way Entra replicas do.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.domain.events import LegacyConsentImported, Provenance
from functions.domain.optouts import GroupOptOutPolicy
from functions.domain.purge import GroupScope, PurgeRecord, user_scopes
from functions.domain.scope import Feature, Scope
from functions.services.purge import FENCE_DELAY
from tests.support.container import IngestionWorld
from tests.support.memory_ingestion import message
from tests.support.purge_fakes import StaticMembers

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
CUSTOMER = "buyer@fabrikam.example"


def ingested(
    users: int = 2, *, group_policy: GroupOptOutPolicy = "purge", members: StaticMembers | None = None
) -> IngestionWorld:
    """A granted tenant whose users' mail has been ingested (each has a profile, cursors, rows)."""
    world = IngestionWorld(
        T0, users=users, group_policy=group_policy, member_resolver=members or StaticMembers()
    )
    world.grant()
    ingest_everyone(world)
    return world


def ingest_everyone(world: IngestionWorld) -> None:
    for i, user in enumerate(world.users):
        world.deliver(user, message(user, CUSTOMER, [f"user{i}@contoso.com"], T0 - timedelta(days=1)))
    world.drain(world.schedule())


def traces(world: IngestionWorld, user: str) -> int:
    """Everything stored of the user: slices, contact-index rows, cursors and profile, backups."""
    scope = Scope("user", world.tenant_id, user_id=user)
    stores = (world.slices, world.contacts, world.cursors, world.backups)
    return sum(store.count_scope(scope) for store in stores)


def purges(world: IngestionWorld) -> list[PurgeRecord]:
    return world.container.purge_store.list(world.tenant_id)


def purges_of(world: IngestionWorld, user: str) -> list[PurgeRecord]:
    """The purges whose scopes name the user: their own, or a group purge that resolved them."""
    uid = user.lower()
    return [p for p in purges(world) if any(str(s.user_id).lower() == uid for s in user_scopes(p))]


def membership_purges(world: IngestionWorld) -> list[PurgeRecord]:
    return [p for p in purges(world) if p.reason == "group-membership"]


def run_purges(world: IngestionWorld) -> None:
    """Every unfinished purge to completion (the first pass, then the sweep past its fence), and the group
    resolutions their completion asked for, until nothing more is asked."""
    service, queues = world.container.purge_service, world.queues
    queues.membership.clear()  # asked before: the test resolved them itself
    for _ in range(5):
        for record in world.container.purge_store.unfinished_of(world.tenant_id):
            service.run(world.tenant_id, record.id, world.clock)
        world.clock.advance(FENCE_DELAY)
        for record in world.container.purge_store.unfinished_of(world.tenant_id):
            service.run(world.tenant_id, record.id, world.clock)
        if not queues.membership:
            return
        queues.membership.clear()
        world.resolve_membership()
    raise AssertionError("purges and resolutions kept asking for each other")


def import_legacy(world: IngestionWorld, feature: Feature, expires: datetime, groups: list[str]) -> None:
    provenance = Provenance(None, f"import-{uuid.uuid4()}", world.now(), "import", world.now())
    event = LegacyConsentImported(
        world.tenant_id, feature, T0 - timedelta(days=100), expires, frozenset(groups)
    )
    world.container.consent_service.import_legacy(event, provenance)


# --- a user found in a group after its group purge resolved it ----------------------------------------------


def test_a_user_found_in_a_group_after_its_group_purge_resolved_without_them_is_purged() -> None:
    """Tried: a group is opted out; its purge asks Graph for the members and finds nobody (the user joins a
    moment later, or Graph's replica did not show them yet); then the resolution finds the user in it.
    Before, the user was excluded and their profile forgotten, but their rows stayed forever: the group was
    opted out after they were last seen, so the resolution left them to the group purge, which had missed
    them."""
    members = StaticMembers()
    world = ingested(members=members)
    user = world.users[0]
    world.clock.now = T0 + timedelta(hours=3)
    group = world.group([])
    world.opt_out_groups(group)
    (group_purge,) = purges(world)
    world.container.purge_service.run(world.tenant_id, group_purge.id, world.clock)  # resolves nobody
    world.clock.advance(timedelta(seconds=5))
    world.graph.members[group] = {user}
    world.resolve_membership()
    (own,) = membership_purges(world)
    assert own.scope == Scope("user", world.tenant_id, user_id=user)
    run_purges(world)
    assert traces(world, user) == 0
    assert traces(world, world.users[1]) > 0


def test_the_members_purge_is_requested_before_their_profile_is_forgotten() -> None:
    """The profile is what tells a later resolution that the user still has data to purge: it goes only
    once their purge exists."""
    world = ingested()
    user = world.users[0]
    world.clock.now = T0 + timedelta(hours=3)
    group = world.group([])
    world.opt_out_groups(group)
    world.container.purge_service.run(world.tenant_id, purges(world)[0].id, world.clock)  # finds nobody
    world.graph.members[group] = {user}
    seen: list[tuple[bool, bool]] = []
    delete_profiles = world.cursors.delete_profiles

    def observed(tenant_id: str, user_ids: list[str]) -> int:
        seen.append((user in user_ids, bool(membership_purges(world))))
        return delete_profiles(tenant_id, user_ids)

    world.cursors.delete_profiles = observed  # type: ignore[method-assign]
    world.resolve_membership()
    assert seen == [(True, True)]
    assert user not in world.cursors.profiles(world.tenant_id)


# --- groups migrated from legacy records --------------------------------------------------------------------


def test_a_member_of_a_group_migrated_at_grant_from_an_expired_legacy_record_is_purged() -> None:
    """Tried: a legacy record of one feature, listing a group, expires while the other feature's record is
    still in force, so the group's members are ingested; a grant then migrates the group into the opt-out
    list. Before, its members were excluded but never purged: the grant asked a group purge for its own
    groups only, and the resolution took the migrated group for one opted out after they were last seen."""
    world = IngestionWorld(T0, users=2)
    user = world.users[0]
    group = world.group([user])
    import_legacy(world, "who_knows_whom", T0 + timedelta(days=365), [])
    import_legacy(world, "relationship_analytics", T0 + timedelta(hours=1), [group])
    world.resolve_membership()
    world.clock.now = T0 + timedelta(hours=2)
    world.container.legacy_service.expire_due(world.now())
    world.resolve_membership()
    ingest_everyone(world)
    assert traces(world, user) > 0
    world.clock.now = T0 + timedelta(days=1)
    world.grant()
    world.resolve_membership()
    assert [p.scope for p in membership_purges(world)] == [Scope("user", world.tenant_id, user_id=user)]
    run_purges(world)
    assert traces(world, user) == 0
    assert traces(world, world.users[1]) > 0


def test_a_member_of_a_group_of_a_legacy_record_imported_after_the_grant_is_purged() -> None:
    """Tried: a legacy record listing a group is imported after the grant, so its group is migrated at once.
    Before, the migration's time counted as the group's opt-out, after the members were last seen, and
    nothing was purged."""
    world = ingested()
    user = world.users[0]
    group = world.group([user])
    world.clock.now = T0 + timedelta(hours=1)
    import_legacy(world, "relationship_analytics", T0 + timedelta(days=365), [group])
    world.resolve_membership()
    assert [p.scope for p in membership_purges(world)] == [Scope("user", world.tenant_id, user_id=user)]
    run_purges(world)
    assert traces(world, user) == 0


# --- what the group purge covers, and repeats ---------------------------------------------------------------


def test_the_members_of_a_newly_opted_out_group_are_left_to_its_group_purge() -> None:
    """One purge record for the group, not one more per member, while the group purge is still to resolve
    its members (it finds them: they were in the group when it was opted out)."""
    members = StaticMembers()
    world = ingested(users=3, members=members)
    group = world.group(world.users[:2])
    members.groups[world.tenant_id, group] = set(world.users[:2])
    world.clock.now = T0 + timedelta(hours=1)
    world.opt_out_groups(group)
    world.resolve_membership()
    assert [p.reason for p in purges(world)] == ["group-opt-out"]
    run_purges(world)
    assert [traces(world, u) for u in world.users[:2]] == [0, 0]
    assert [p.reason for p in purges(world)] == ["group-opt-out"]


def test_a_member_the_group_purge_did_not_find_is_purged_once_it_completes() -> None:
    """Tried: the resolution finds the user in the new group and leaves them to the group purge, whose own
    Graph resolution then misses them (a replica behind). Its completion asks for a resolution, which finds
    the user still holding data and purges them."""
    members = StaticMembers()
    world = ingested(members=members)
    user = world.users[0]
    group = world.group([user])
    world.clock.now = T0 + timedelta(hours=1)
    world.opt_out_groups(group)
    world.resolve_membership()
    assert membership_purges(world) == []
    run_purges(world)  # the group purge resolves nobody
    assert [p.scope for p in membership_purges(world)] == [Scope("user", world.tenant_id, user_id=user)]
    assert traces(world, user) == 0


def test_a_member_whose_profile_is_gone_but_whose_cursors_are_not_is_purged() -> None:
    """A profile is also forgotten by a scheduling run for anyone excluded, if only while their membership
    is unknown; their cursors stay until a purge, and count as data to purge."""
    world = ingested()
    user = world.users[0]
    world.cursors.delete_profiles(world.tenant_id, [user])
    world.clock.now = T0 + timedelta(hours=1)
    import_legacy(world, "relationship_analytics", T0 + timedelta(days=365), [world.group([user])])
    world.resolve_membership()
    assert [p.scope for p in membership_purges(world)] == [Scope("user", world.tenant_id, user_id=user)]


def test_resolving_again_while_the_members_purge_is_unfinished_asks_no_second_purge() -> None:
    world = ingested()
    user = world.users[0]
    world.clock.now = T0 + timedelta(hours=1)
    import_legacy(world, "relationship_analytics", T0 + timedelta(days=365), [world.group([user])])
    for minutes in (0, 1, 2):
        world.clock.now = T0 + timedelta(hours=1, minutes=minutes)
        world.resolve_membership()
        world.schedule()
    assert len(membership_purges(world)) == 1
    assert len(world.queues.purges) == 1


def test_a_member_whose_own_opt_out_purge_is_unfinished_gets_no_second_purge() -> None:
    world = ingested()
    user = world.users[0]
    world.opt_out(user)
    world.clock.now = T0 + timedelta(hours=1)
    import_legacy(world, "relationship_analytics", T0 + timedelta(days=365), [world.group([user])])
    world.resolve_membership()
    assert [p.reason for p in purges_of(world, user)] == ["user-opt-out"]


def test_a_member_whose_data_is_purged_already_gets_no_purge_on_later_resolutions() -> None:
    world = ingested()
    user = world.users[0]
    world.clock.now = T0 + timedelta(hours=1)
    import_legacy(world, "relationship_analytics", T0 + timedelta(days=365), [world.group([user])])
    world.resolve_membership()
    run_purges(world)
    world.clock.advance(timedelta(days=1))
    world.resolve_membership()
    world.schedule()
    assert len(membership_purges(world)) == 1


# --- retain -------------------------------------------------------------------------------------------------


def test_with_retain_members_are_excluded_and_forgotten_and_nothing_of_theirs_is_purged() -> None:
    world = ingested(group_policy="retain")
    user = world.users[0]
    before = traces(world, user)
    world.clock.now = T0 + timedelta(hours=1)
    world.opt_out_groups(world.group([user]))
    world.resolve_membership()
    # and in a group migrated from a legacy record, which has no group purge even under `purge`
    import_legacy(world, "relationship_analytics", T0 + timedelta(days=365), [world.group([user])])
    world.resolve_membership()
    world.schedule()
    assert purges(world) == []
    assert user not in world.cursors.profiles(world.tenant_id)
    assert traces(world, user) == before - 1  # the profile only
    assert not world.container.inclusion.tenant(world.tenant_id, world.now()).includes(user)


# --- the invariant ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Story:
    policy: GroupOptOutPolicy
    in_group: frozenset[int]  # members when the group is opted out (indexes of the world's users)
    purge_sees: frozenset[int]  # which members the group purge's own Graph resolution finds
    joiners: frozenset[int]  # added to the group after the first resolution
    purge_first: bool  # the group purge resolves its members before the resolution settles
    migrated: bool  # the group arrives with a legacy record imported after the grant, not the admin form


USERS = 4
indexes = st.frozensets(st.sampled_from(range(USERS)))
stories = st.builds(
    Story,
    st.sampled_from(("purge", "purge", "retain")),
    indexes,
    indexes,
    indexes,
    st.booleans(),
    st.booleans(),
)


def rows(world: IngestionWorld, user: str) -> int:
    scope = Scope("user", world.tenant_id, user_id=user)
    return world.slices.count_scope(scope) + world.contacts.count_scope(scope)


def assert_each_member_with_data_is_in_an_unfinished_purge(world: IngestionWorld, group: str) -> None:
    """Right after a resolution: a member still holding data is named by an unfinished purge of theirs, or
    of the tenant, or by a group purge that resolved them, or is in the group of a group purge still to
    resolve its members."""
    unfinished = world.container.purge_store.unfinished_of(world.tenant_id)
    for user in world.graph.members[group]:
        if traces(world, user):
            named = {str(s.user_id).lower() for p in unfinished for s in user_scopes(p)}
            pending = any(
                isinstance(p.scope, GroupScope) and p.members is None and group in p.scope.group_ids
                for p in unfinished
            )
            tenant = any(p.scope == Scope("tenant", world.tenant_id) for p in unfinished)
            assert user.lower() in named or pending or tenant, user


def assert_settled(world: IngestionWorld, story: Story, group: str, before: dict[str, int]) -> None:
    for user in world.users:
        if user in world.graph.members[group] and story.policy == "purge":
            assert traces(world, user) == 0, user
        else:
            assert rows(world, user) == before[user], user
    if story.policy == "retain":
        assert purges(world) == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stories)
def test_once_purges_and_resolutions_have_run_no_member_of_an_opted_out_group_has_data_left(
    story: Story,
) -> None:
    """Under `purge`, whatever each of Graph's two readers saw and in whichever order they ran: after each
    resolution every member holding data is in an unfinished purge, and once the purges (and the resolutions
    their completion asks for) have run, no member has anything stored, and stays so; everyone else keeps
    their rows. Under `retain`, nobody loses a row and nothing is purged."""
    members = StaticMembers()
    world = ingested(users=USERS, group_policy=story.policy, members=members)
    users = world.users
    before = {u: rows(world, u) for u in users}
    group = world.group(users[i] for i in story.in_group)
    world.clock.now = T0 + timedelta(hours=1)
    if story.migrated:
        import_legacy(world, "relationship_analytics", T0 + timedelta(days=365), [group])
    else:
        world.opt_out_groups(group)
    # Graph's other read, for the group purge: some of the members, whenever it runs (none who never joined)
    members.groups[world.tenant_id, group] = {
        users[i] for i in story.purge_sees & (story.in_group | story.joiners)
    }
    if story.purge_first:
        for record in world.container.purge_store.unfinished_of(world.tenant_id):
            world.container.purge_service.run(world.tenant_id, record.id, world.clock)
    for joiners in (frozenset[int](), story.joiners):
        world.graph.members[group] |= {users[i] for i in joiners}
        world.clock.advance(timedelta(minutes=1))
        world.resolve_membership()
        if story.policy == "purge":
            assert_each_member_with_data_is_in_an_unfinished_purge(world, group)
    run_purges(world)
    assert_settled(world, story, group, before)
    world.clock.advance(timedelta(days=1))
    world.drain(world.schedule())
    run_purges(world)
    assert_settled(world, story, group, before)


def test_a_scheduling_run_that_began_before_a_resolution_still_stores_what_it_saw_later() -> None:
    """Tried: the daily timer begins at 02:00 and hands that time to every tenant; a resolution asked by the
    queue runs at 02:03; the user joins the opted-out group at 02:04; the timer reaches the tenant at 02:06.
    Its resolution saw the user in the group, so it is the newer one and must be stored."""
    world = ingested()
    joiner, member = world.users
    group = world.group([member])
    world.opt_out_groups(group)
    world.resolve_membership()
    timer_began = world.now()
    world.clock.advance(timedelta(minutes=3))
    world.container.membership_service.resolve(world.tenant_id, world.now())
    world.clock.advance(timedelta(minutes=1))
    world.graph.members[group].add(joiner)
    world.clock.advance(timedelta(minutes=2))
    world.scheduler.schedule_tenant(world.tenant_id, timer_began)
    decision = world.container.inclusion.tenant(world.tenant_id, world.now()).decide(joiner)
    assert decision.reason == "group-opted-out"
