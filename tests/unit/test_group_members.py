"""Resolving opted-out groups to their users: one loop over the groups, whatever asks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable

import pytest

from functions.domain.errors import GraphNotFound, GraphThrottled
from functions.services.membership import GroupMembers, resolve_groups

TENANT = "7f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f"
SALES = "aaaaaaaa-0000-4000-8000-000000000001"
LEGAL = "aaaaaaaa-0000-4000-8000-000000000002"
GONE = "aaaaaaaa-0000-4000-8000-000000000003"
ALICE = "11111111-aaaa-4000-8000-00000000000a"
BOB = "22222222-bbbb-4000-8000-00000000000b"
CAROL = "33333333-cccc-4000-8000-00000000000c"


class FakeDirectory:
    """Transitive members per group; a group it does not know is one Graph answers 404 for."""

    def __init__(self, groups: dict[str, list[str]], *, failing: Exception | None = None) -> None:
        self.groups = groups
        self.failing = failing
        self.asked: list[tuple[str, str]] = []
        self.closed = False

    async def transitive_user_members(self, tenant_id: str, group_id: str) -> AsyncIterator[str]:
        self.asked.append((tenant_id, group_id))
        if self.failing is not None:
            raise self.failing
        if group_id not in self.groups:
            raise GraphNotFound(f"Graph answered 404 Request_ResourceNotFound: {group_id}")
        for user_id in self.groups[group_id]:
            yield user_id

    async def aclose(self) -> None:
        self.closed = True


def resolve(directory: FakeDirectory, group_ids: Iterable[str]) -> dict[str, frozenset[str]]:
    return asyncio.run(resolve_groups(directory, TENANT, group_ids))


def test_each_user_is_mapped_to_every_group_they_are_in() -> None:
    directory = FakeDirectory({SALES: [ALICE, BOB], LEGAL: [BOB, CAROL]})
    assert resolve(directory, [SALES, LEGAL]) == {
        ALICE: {SALES},
        BOB: {SALES, LEGAL},
        CAROL: {LEGAL},
    }


def test_a_user_listed_in_other_casings_is_one_lower_cased_user() -> None:
    directory = FakeDirectory({SALES: [ALICE.upper()], LEGAL: [ALICE]})
    assert resolve(directory, [SALES, LEGAL]) == {ALICE: {SALES, LEGAL}}


def test_a_group_graph_no_longer_knows_is_empty_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    directory = FakeDirectory({SALES: [ALICE]})
    with caplog.at_level(logging.WARNING):
        assert resolve(directory, [SALES, GONE]) == {ALICE: {SALES}}
    assert [r.getMessage() for r in caplog.records] == [
        f"opted-out group {GONE!r} of tenant {TENANT!r} no longer exists; no members"
    ]


def test_any_other_graph_failure_is_not_taken_for_an_empty_group() -> None:
    directory = FakeDirectory({SALES: [ALICE]}, failing=GraphThrottled("Graph answered 429"))
    with pytest.raises(GraphThrottled):
        resolve(directory, [SALES])


def test_each_group_is_asked_once_in_a_stable_order() -> None:
    directory = FakeDirectory({SALES: [], LEGAL: []})
    resolve(directory, [LEGAL, SALES, LEGAL])
    assert directory.asked == [(TENANT, SALES), (TENANT, LEGAL)]


def test_no_groups_resolve_to_nobody_without_asking_graph() -> None:
    directory = FakeDirectory({})
    assert resolve(directory, []) == {}
    assert directory.asked == []


def test_the_reader_is_left_open_for_its_owner_to_close() -> None:
    directory = FakeDirectory({SALES: [ALICE]})
    resolve(directory, [SALES])
    assert not directory.closed


def test_the_purges_resolver_answers_everyone_in_any_of_the_groups() -> None:
    directory = FakeDirectory({SALES: [ALICE.upper(), BOB], LEGAL: [BOB, CAROL]})
    members = GroupMembers(lambda: directory).members(TENANT, frozenset({SALES, LEGAL, GONE}))
    assert members == {ALICE, BOB, CAROL}


def test_the_purges_resolver_closes_its_reader_even_when_graph_fails() -> None:
    directory = FakeDirectory({}, failing=GraphThrottled("Graph answered 429"))
    with pytest.raises(GraphThrottled):
        GroupMembers(lambda: directory).members(TENANT, frozenset({SALES}))
    assert directory.closed
