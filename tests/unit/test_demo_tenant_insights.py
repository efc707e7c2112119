"""On the demo's synthetic tenant the insights rank instead of saturating (tests/support/demo_tenant.py).

The tenant is the one `make demo` ingests, generated in memory and turned into stored interactions by the
ingestion rules, so these are the numbers the demo's "top contacts" table shows for the same clock.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache

import pytest

from functions.domain.health import Health, relationship_health
from functions.domain.who_knows_whom import who_knows_whom
from graphsim.generate import DEFAULT_NOW
from tests.support.demo_tenant import IngestedTenant, ingest_demo_tenant

TOP = 5
# The demo runs on the wall clock; a few clocks over the year stand in for "whenever it is run".
CLOCKS = [DEFAULT_NOW - timedelta(days=61 * months, hours=7 * months) for months in range(6)]


@cache
def tenant_at(clock_index: int) -> IngestedTenant:
    return ingest_demo_tenant(CLOCKS[clock_index])


def top_health(tenant: IngestedTenant) -> list[Health]:
    return [
        relationship_health(tenant.interactions_of(address), tenant.now)
        for address in tenant.top_contacts[:TOP]
    ]


def test_the_top_five_contacts_scores_are_distinct_and_spread_over_at_least_15_points() -> None:
    scores = [health.score for health in top_health(tenant_at(0))]

    assert None not in scores
    assert len(set(scores)) == TOP
    assert max(s for s in scores if s is not None) - min(s for s in scores if s is not None) >= 15


@pytest.mark.parametrize("clock_index", range(len(CLOCKS)))
def test_whenever_the_demo_runs_its_top_five_spread_out_and_none_saturates(clock_index: int) -> None:
    raws = [health.raw for health in top_health(tenant_at(clock_index))]
    assert all(raw is not None for raw in raws)
    known = [raw for raw in raws if raw is not None]

    assert len(set(known)) == TOP  # what the ranking sorts on never ties
    assert max(known) - min(known) >= 15
    assert max(known) < 99.5  # the heaviest relationship is not shown as 100


def test_the_colleagues_who_know_the_top_contact_best_are_told_apart_below_saturation() -> None:
    tenant = tenant_at(0)

    colleagues = who_knows_whom(tenant.interactions_of(tenant.top_contacts[0]), tenant.now, tenant.directory)

    assert len(colleagues) == TOP
    assert len({colleague.raw for colleague in colleagues}) == TOP
    assert all(colleague.strength < 80 for colleague in colleagues)
