"""Resolve opted-out groups to their users for a group purge, through Graph `transitiveMembers`.

The purge function is synchronous (a queue handler); the Graph adapter is async. Each call runs its own
event loop and closes the adapter's connections before the loop ends (the adapter rebuilds them per loop).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from functions.adapters.graph import GraphAdapter
from functions.domain.errors import GraphNotFound

logger = logging.getLogger(__name__)


class MemberResolver(Protocol):
    def members(self, tenant_id: str, group_ids: frozenset[str]) -> frozenset[str]:
        """The (lower-cased) object IDs of every user in any of the groups, nested groups included."""
        ...


class GraphMemberResolver:
    def __init__(self, graph: GraphAdapter) -> None:
        self._graph = graph

    def members(self, tenant_id: str, group_ids: frozenset[str]) -> frozenset[str]:
        return asyncio.run(self._members(tenant_id, group_ids))

    async def _members(self, tenant_id: str, group_ids: frozenset[str]) -> frozenset[str]:
        found: set[str] = set()
        try:
            for group_id in sorted(group_ids):
                try:
                    async for user_id in self._graph.transitive_user_members(tenant_id, group_id):
                        found.add(user_id.lower())
                except GraphNotFound:
                    # A deleted group has no members left to resolve; ingestion's own membership check
                    # covers anyone who is still excluded some other way.
                    logger.warning("group %s of tenant %s no longer exists; no members", group_id, tenant_id)
        finally:
            await self._graph.aclose()
        return frozenset(found)
