"""The account view: the relationship with one customer organisation, all contacts of one email domain.

Input is, per contact of the domain (`functions.domain.contacts.domain_of`), every included user's stored
interactions about that contact, keyed by contact hash; optionally the addresses of the contacts the caller
knows (addresses are not stored, so a contact may well have none). Excluded users' interactions are dropped
first, as everywhere. The account is one relationship, so an email to two of its people is one email:

- KPIs and health are computed as for one contact (functions/domain/insights.py, health.py) over the union
  of the contacts' distinct interactions, merged by key. Where the contacts' parts differ the account's
  part is the largest (`ROLE_RANK`): an email one contact wrote and another read was written by the
  account; a meeting is declined by the account only if every one of its people declined it. Health uses
  the tenant's cadence unchanged: an account with several active people scores higher than any one of
  them, which is the point of looking at the account.
- `timeSpentByCustomerMinutes` is the exception: it is each person's own time, so it sums the contacts'
  figures (two of their people in an hour-long meeting spent two hours).
- `contacts`: how many of the given contacts have at least one distinct interaction in the window.
- `topContacts`: the (up to) 3 most-contacted people, by their number of distinct interactions in the
  window, then the more recent last interaction, then the contact hash (ascending): a total order.
- `topColleagues`: the (up to) 3 included colleagues who contact the account most, by who knows whom's
  connection strength over the account's union (functions/domain/who_knows_whom.py), with its ranking and
  its tie-breaks. Strength rather than a count of messages: a meeting weighs three emails, being copied on
  someone else's email half a direct one, and old contact fades, so the person to ask about the account
  is the same one the contact view would name.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from functions.domain.health import Health, HealthConfig, relationship_health
from functions.domain.insights import RelationshipKpis, customer_minutes, relationship_kpis
from functions.domain.interactions import ROLE_RANK, Interaction, Role, distinct_interactions
from functions.domain.metadata import DirectoryUser
from functions.domain.who_knows_whom import Colleague, who_knows_whom

TOP = 3
# Every interaction of the union is relabelled with this contact so the one-contact rules accept the account.
_ACCOUNT = "account"


@dataclass(frozen=True, slots=True)
class AccountContact:
    contact: str  # the contact hash
    address: str | None  # when the caller knows it
    interactions: int  # distinct interactions in the window
    last_interaction_at: datetime


@dataclass(frozen=True, slots=True)
class AccountRelationships:
    kpis: RelationshipKpis
    health: Health
    contacts: int
    top_contacts: tuple[AccountContact, ...]
    top_colleagues: tuple[Colleague, ...]


def account_relationships(
    interactions_by_contact: Mapping[str, Iterable[Interaction]],
    now: datetime,
    directory: Mapping[str, DirectoryUser],
    excluded_users: frozenset[str] = frozenset(),
    *,
    config: HealthConfig | None = None,
    addresses: Mapping[str, str] | None = None,
    partial: bool = False,
) -> AccountRelationships:
    """The account's KPIs, health, most-contacted people and best-connected colleagues (module docstring).

    Each contact's interactions must be about that contact (ValueError otherwise, a caller bug).
    """
    config = config or HealthConfig()
    addresses = addresses or {}
    per_contact = {contact: list(interactions) for contact, interactions in interactions_by_contact.items()}
    for contact, interactions in per_contact.items():
        if any(interaction.contact != contact for interaction in interactions):
            raise ValueError("interactions filed under one contact are about another")
    union = _union(per_contact.values())
    kpis = relationship_kpis(union, now, excluded_users, partial)
    everyone: list[float] = []
    ranked: list[AccountContact] = []
    for contact in sorted(per_contact):
        occurrences = distinct_interactions(per_contact[contact], now, excluded_users)
        if not occurrences:
            continue
        everyone.extend(customer_minutes(occurrence.interaction) for occurrence in occurrences)
        ranked.append(
            AccountContact(contact, addresses.get(contact), len(occurrences), occurrences[-1].interaction.at)
        )
    ranked.sort(key=lambda c: (-c.interactions, -c.last_interaction_at.timestamp(), c.contact))
    return AccountRelationships(
        kpis=replace(kpis, time_spent_by_customer_minutes=round(math.fsum(everyone), 2)),
        health=relationship_health(union, now, excluded_users, config),
        contacts=len(ranked),
        top_contacts=tuple(ranked[:TOP]),
        top_colleagues=tuple(
            who_knows_whom(union, now, directory, excluded_users, limit=TOP, cadence=config.cadence)
        ),
    )


def _union(interactions_per_contact: Iterable[list[Interaction]]) -> list[Interaction]:
    """Every interaction relabelled as the account's, with the account's part in each interaction."""
    interactions = [interaction for interactions in interactions_per_contact for interaction in interactions]
    part: dict[str, Role] = {}
    for interaction in interactions:
        known = part.get(interaction.key)
        if known is None or ROLE_RANK[interaction.contact_role] > ROLE_RANK[known]:
            part[interaction.key] = interaction.contact_role
    return [
        replace(interaction, contact=_ACCOUNT, contact_role=part[interaction.key])
        for interaction in interactions
    ]


def account_pairs(interactions: Iterable[Interaction]) -> set[tuple[str, str]]:
    """The (account, contact) pairs of the account index that `interactions` give (those with an account)."""
    return {(i.account, i.contact) for i in interactions if i.account}
