"""An excluded user never appears in the insights, whatever the interactions (InsightService, in-memory
stores)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from functions.domain.contacts import contact_hash
from functions.domain.errors import NotFound
from functions.domain.ingestion import Cursor, UserProfile
from functions.domain.interactions import Interaction
from functions.domain.introductions import IntroductionRequest, IntroductionTemplate
from functions.services.consent import api_provenance
from tests.support.container import Services, app_settings, memory_container
from tests.support.interactions import NOW, USERS, histories

TENANT = "11111111-1111-4111-8111-111111111111"
KEY = b"k" * 32
ADDRESS = "buyer@customer.example"


class ContactInteractions:
    def __init__(self, interactions: list[Interaction]) -> None:
        hashed = contact_hash(KEY, TENANT, ADDRESS)
        self._interactions = [replace(f, contact=hashed) for f in interactions]

    def interactions(self, tenant_id: str, contact: str) -> list[Interaction]:
        return [f for f in self._interactions if f.contact == contact]


class Cursors:
    """A profile for every user, even the excluded (as if left from before): exclusion must still win."""

    def __init__(self) -> None:
        self._profiles = {
            u: UserProfile(
                TENANT, u, u.title(), f"{u}@contoso.com", f"{u}@contoso.com", present=True, seen_at=NOW
            )
            for u in USERS
        }

    def failed(self, tenant_id: str) -> list[Cursor]:
        return []

    def profiles(self, tenant_id: str) -> dict[str, UserProfile]:
        return dict(self._profiles)


class NoIntroductions:
    def record(self, request: IntroductionRequest) -> IntroductionRequest:
        return request

    def template(self, tenant_id: str) -> IntroductionTemplate | None:
        return None

    def save_template(self, tenant_id: str, template: IntroductionTemplate, at: datetime) -> None:
        return None


@settings(max_examples=60, deadline=None)
@given(
    interactions=histories(),
    opted_out=st.frozensets(st.sampled_from(USERS), max_size=3),
    group_excluded=st.frozensets(st.sampled_from(USERS), max_size=3),
)
def test_an_excluded_user_never_appears_as_a_colleague(
    interactions: list[Interaction], opted_out: frozenset[str], group_excluded: frozenset[str]
) -> None:
    services = Services()
    services.consent.grant(TENANT, frozenset(), api_provenance(None, NOW))
    for user in opted_out:
        provenance = api_provenance(None, NOW)
        services.optout.set_user(TENANT, user, opted_out=True, provenance=provenance)
    if group_excluded:
        services.exclude_by_group(TENANT, group_excluded, NOW)
    insights = memory_container(
        settings=app_settings(CONTACT_HASH_KEY=KEY.decode()), consent_store=services.consents,
        optout_store=services.optouts, purge_store=services.purges,
        contact_store=ContactInteractions(interactions), cursor_store=Cursors(),
    ).insight_service  # fmt: skip
    excluded = opted_out | group_excluded
    try:
        answer = insights.who_knows_whom(TENANT, ADDRESS, NOW)
    except NotFound:
        assert all(f.user_id in excluded for f in interactions)
        return
    assert not {c.user_id for c in answer.colleagues} & excluded
