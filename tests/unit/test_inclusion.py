"""The one inclusion decision: who is in, and why not (functions/domain/inclusion.py)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from functions.domain.consent import TenantConsent, grant, import_legacy, revoke
from functions.domain.events import Provenance
from functions.domain.inclusion import REASONS, GroupMembership, TenantInclusion
from functions.domain.optouts import GroupOptOuts, UserOptOut, change_user, replace_groups
from functions.domain.purge import GroupScope, PurgeRecord, new_purge
from functions.domain.scope import Scope

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
TENANT = str(uuid.uuid4())
ALICE, BOB = str(uuid.uuid4()), str(uuid.uuid4())
G1, G2 = str(uuid.uuid4()), str(uuid.uuid4())


def change(at: datetime = T0) -> Provenance:
    return Provenance("admin", f"evt-{uuid.uuid4()}", at, "webhook", at)


GRANTED = grant(TenantConsent(TENANT), change()).consent
NO_GROUPS = GroupOptOuts(TENANT)
RESOLVED_NOTHING = GroupMembership(groups=frozenset(), groups_version=0)


def groups(*ids: str) -> GroupOptOuts:
    return replace_groups(NO_GROUPS, ids, change()).groups


def opted_out(user_id: str, *, out: bool = True) -> UserOptOut:
    user = change_user(
        None, tenant_id=TENANT, user_id=user_id, opted_out=out, provenance=change(), purge_id="p"
    ).user
    assert user is not None
    return user


def purge(scope: Scope | GroupScope, *, status: str = "queued") -> PurgeRecord:
    return replace(new_purge(scope, "user-opt-out", change()), status=status)


def decide(
    user_id: str = ALICE,
    *,
    consent: TenantConsent = GRANTED,
    listed: GroupOptOuts = NO_GROUPS,
    users: tuple[UserOptOut, ...] = (),
    membership: GroupMembership = RESOLVED_NOTHING,
    purges: tuple[PurgeRecord, ...] = (),
    now: datetime = T0,
) -> str:
    return TenantInclusion.of(consent, listed, users, membership, purges, now).decide(user_id).reason


def test_a_user_of_a_granted_tenant_with_nothing_against_them_is_included() -> None:
    assert decide() == "included"


def test_revocation_excludes_everyone_whatever_else_is_true() -> None:
    revoked = revoke(GRANTED, change(T0 + timedelta(minutes=1)), "purge-1").consent
    assert decide(consent=revoked) == "consent-revoked"


def test_nothing_is_included_before_any_consent() -> None:
    assert decide(consent=TenantConsent(TENANT)) == "no-feature-enabled"


def test_an_unexpired_legacy_consent_includes_and_an_expired_one_does_not() -> None:
    legacy = import_legacy(
        TenantConsent(TENANT), "who_knows_whom", granted_at=T0 - timedelta(days=10),
        expires_at=T0 + timedelta(days=1), opted_out_group_ids=frozenset(), provenance=change(),
    ).consent  # fmt: skip
    assert decide(consent=legacy) == "included"
    assert decide(consent=legacy, now=T0 + timedelta(days=2)) == "no-feature-enabled"


def test_an_unfinished_tenant_purge_holds_everyone_even_after_a_new_grant() -> None:
    assert decide(purges=(purge(Scope("tenant", TENANT)),)) == "tenant-purge-pending"


def test_a_users_own_opt_out_excludes_them_and_not_their_colleagues() -> None:
    assert decide(ALICE, users=(opted_out(ALICE),)) == "user-opted-out"
    assert decide(BOB, users=(opted_out(ALICE),)) == "included"


def test_a_user_who_opted_back_in_is_included() -> None:
    assert decide(users=(opted_out(ALICE, out=False),)) == "included"


def test_a_resolved_member_of_an_opted_out_group_is_excluded() -> None:
    membership = GroupMembership(frozenset({G1}), {ALICE.lower(): frozenset({G1})}, 1, T0)
    assert decide(ALICE, listed=groups(G1), membership=membership) == "group-opted-out"
    assert decide(BOB, listed=groups(G1), membership=membership) == "included"


def test_object_ids_are_compared_without_regard_to_case() -> None:
    membership = GroupMembership(frozenset({G1}), {ALICE.lower(): frozenset({G1})}, 1, T0)
    assert decide(ALICE.upper(), listed=groups(G1), membership=membership) == "group-opted-out"
    assert decide(ALICE.upper(), users=(opted_out(ALICE),)) == "user-opted-out"


def test_a_group_not_resolved_yet_fails_closed_for_everyone_not_known_to_be_out() -> None:
    assert decide(ALICE, listed=groups(G1)) == "membership-unknown"


def test_a_resolution_of_other_groups_does_not_answer_for_a_new_one() -> None:
    membership = GroupMembership(frozenset({G1}), {}, 1, T0)
    assert decide(ALICE, listed=groups(G1, G2), membership=membership) == "membership-unknown"


def test_a_known_member_of_a_resolved_group_is_out_for_that_reason_while_another_group_is_pending() -> None:
    membership = GroupMembership(frozenset({G1}), {ALICE.lower(): frozenset({G1})}, 1, T0)
    assert decide(ALICE, listed=groups(G1, G2), membership=membership) == "group-opted-out"


def test_removing_a_group_needs_no_resolution_and_frees_its_members() -> None:
    membership = GroupMembership(frozenset({G1, G2}), {ALICE.lower(): frozenset({G2})}, 1, T0)
    assert decide(ALICE, listed=groups(G1), membership=membership) == "included"


def test_the_groups_of_a_legacy_record_in_force_exclude_like_the_list() -> None:
    legacy = import_legacy(
        TenantConsent(TENANT), "relationship_analytics", granted_at=T0 - timedelta(days=1),
        expires_at=T0 + timedelta(days=30), opted_out_group_ids=frozenset({G2}), provenance=change(),
    ).consent  # fmt: skip
    assert decide(consent=legacy) == "membership-unknown"
    membership = GroupMembership(frozenset({G2}), {ALICE.lower(): frozenset({G2})}, 0, T0)
    assert decide(ALICE, consent=legacy, membership=membership) == "group-opted-out"
    assert decide(BOB, consent=legacy, membership=membership) == "included"


def test_an_unfinished_purge_of_a_user_holds_them_after_they_opt_back_in() -> None:
    purges = (purge(Scope("user", TENANT, user_id=ALICE)),)
    assert decide(ALICE, users=(opted_out(ALICE, out=False),), purges=purges) == "purge-pending"
    assert decide(BOB, purges=purges) == "included"


def test_a_completed_purge_holds_nobody() -> None:
    assert decide(purges=(purge(Scope("user", TENANT, user_id=ALICE), status="completed"),)) == "included"


def test_the_fence_changes_when_a_user_opts_out_and_back_in() -> None:
    before = TenantInclusion.of(GRANTED, NO_GROUPS, [], RESOLVED_NOTHING, [], T0).fence(ALICE)
    back_in = TenantInclusion.of(GRANTED, NO_GROUPS, [opted_out(ALICE, out=False)], RESOLVED_NOTHING, [], T0)
    assert back_in.decide(ALICE).included
    assert back_in.fence(ALICE) != before


def test_the_fence_does_not_change_for_a_group_change_that_does_not_concern_the_user() -> None:
    resolved = GroupMembership(frozenset({G1, G2}), {BOB.lower(): frozenset({G2})}, 2, T0)
    one = TenantInclusion.of(GRANTED, groups(G1, G2), [], resolved, [], T0)
    other = TenantInclusion.of(GRANTED, groups(G1), [], resolved, [], T0)
    assert one.fence(ALICE) == other.fence(ALICE)
    assert one.fence(BOB) != other.fence(BOB)


def test_a_resolution_of_an_older_group_list_never_replaces_a_newer_one() -> None:
    newer, older = GroupMembership(groups_version=3), GroupMembership(groups_version=2)
    assert not older.supersedes(newer)
    assert newer.supersedes(older)
    assert newer.supersedes(GroupMembership(groups_version=3))


def test_of_two_resolutions_of_one_list_the_later_replaces_the_earlier_and_not_the_reverse() -> None:
    earlier = GroupMembership(groups_version=3, resolved_at=T0)
    later = GroupMembership(groups_version=3, resolved_at=T0 + timedelta(seconds=1))
    assert later.supersedes(earlier)
    assert not earlier.supersedes(later)
    assert not GroupMembership(groups_version=2, resolved_at=T0 + timedelta(days=1)).supersedes(earlier)


user_ids = st.sampled_from((ALICE, BOB))


@given(
    state=st.sampled_from(("none", "granted", "revoked")),
    out=st.sets(user_ids),
    listed=st.sets(st.sampled_from((G1, G2))),
    resolved=st.sets(st.sampled_from((G1, G2))),
    alice_in=st.sets(st.sampled_from((G1, G2))),
    held=st.sets(user_ids),
    user=user_ids,
)
def test_a_user_is_included_exactly_when_no_rule_excludes_them(  # noqa: PLR0917  (a draw per interaction)
    state: str,
    out: set[str],
    listed: set[str],
    resolved: set[str],
    alice_in: set[str],
    held: set[str],
    user: str,
) -> None:
    consent = {"none": TenantConsent(TENANT), "granted": GRANTED}.get(state) or revoke(
        GRANTED, change(T0 + timedelta(minutes=1)), "p"
    ).consent
    membership = GroupMembership(frozenset(resolved), {ALICE.lower(): frozenset(alice_in & resolved)}, 1, T0)
    purges = tuple(purge(Scope("user", TENANT, user_id=u)) for u in held)
    inclusion = TenantInclusion.of(
        consent, groups(*listed), [opted_out(u) for u in out], membership, purges, T0
    )
    member = user == ALICE and bool(alice_in & resolved & listed)
    expected = (
        state == "granted" and user not in out and not member and listed <= resolved and user not in held
    )
    decision = inclusion.decide(user)
    assert decision.included == expected
    assert decision.reason in REASONS
