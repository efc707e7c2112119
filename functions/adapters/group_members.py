"""Resolve opted-out groups to their users through Graph `transitiveMembers`.

`resolve_groups` is the one loop over the groups, for every caller: the group purge (`GraphMemberResolver`,
which needs only who is in any of them) and the resolution of a tenant's opted-out groups (which stores
which groups each user is in).

The purge function is synchronous (a queue handler); the Graph adapter is async. Each `members` call runs its
own event loop and closes the adapter's connections before the loop ends (the adapter rebuilds them per loop).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Protocol

from functions.domain.errors import GraphNotFound

logger = logging.getLogger(__name__)


class GroupMemberReader(Protocol):
    def transitive_user_members(self, tenant_id: str, group_id: str) -> AsyncIterator[str]:
        """The object IDs of the users in the group or in any group nested in it."""
        ...


class ClosableGroupMemberReader(GroupMemberReader, Protocol):
    async def aclose(self) -> None: ...


class MemberResolver(Protocol):
    def members(self, tenant_id: str, group_ids: frozenset[str]) -> frozenset[str]:
        """The (lower-cased) object IDs of every user in any of the groups, nested groups included."""
        ...


async def resolve_groups(
    graph: GroupMemberReader, tenant_id: str, group_ids: Iterable[str]
) -> dict[str, frozenset[str]]:
    """Each user (lower-cased object ID) in any of the groups, nested groups included, and which of the
    groups they are in. A group Graph no longer knows counts as resolved and empty.

    `graph` is left open: whoever made it closes it, as it may serve more than this resolution.
    """
    found: dict[str, set[str]] = {}
    for group_id in sorted(set(group_ids)):
        try:
            async for user_id in graph.transitive_user_members(tenant_id, group_id):
                found.setdefault(user_id.lower(), set()).add(group_id)
        except GraphNotFound:
            # A deleted group has no members left to resolve; the inclusion rules cover anyone who is
            # still excluded some other way.
            logger.warning(
                "opted-out group %r of tenant %r no longer exists; no members", group_id, tenant_id
            )
    return {user_id: frozenset(groups) for user_id, groups in found.items()}


class GraphMemberResolver:
    def __init__(self, graph: ClosableGroupMemberReader) -> None:
        self._graph = graph

    def members(self, tenant_id: str, group_ids: frozenset[str]) -> frozenset[str]:
        return asyncio.run(self._members(tenant_id, group_ids))

    async def _members(self, tenant_id: str, group_ids: frozenset[str]) -> frozenset[str]:
        try:
            return frozenset(await resolve_groups(self._graph, tenant_id, group_ids))
        finally:
            await self._graph.aclose()
