"""Integration fixtures: a small synthetic tenant served by a Graph simulator (on top of tests/conftest.py's
shared Azurite and unique tenant IDs)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from graphsim.generate import TenantSpec
from graphsim.server import GraphSimulator
from graphsim.tenant import Tenant

SMALL_TENANT = TenantSpec(
    seed=5, users=4, external_contacts=25, messages_per_user_per_month=6, meetings_per_user_per_month=1
)


@pytest.fixture
def sim() -> Iterator[GraphSimulator]:
    """The small tenant, one simulator per test (tests change its directory)."""
    with GraphSimulator(Tenant(SMALL_TENANT)) as running:
        yield running
