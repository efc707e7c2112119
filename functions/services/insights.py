"""The insight use cases: relationship analytics, who knows whom, get introduced (SPEC section 2).

A read is: the feature enabled (else `FeatureNotEnabled`, 404), the address normalised and hashed with the
tenant ID lower-cased (as ingestion hashed it), the contact's interactions from its one partition of the
contact index, every user the inclusion decision (functions/domain/inclusion.py) does not include dropped,
then the pure rules. A contact with no interaction from an included user is unknown (404): excluded people
are never visible, not even as "someone knows them". While a changed group list is being resolved, users whose
membership is unknown are hidden too and the answer says `accuracy: "partial"` (and is not a 404: the
contact may well be known). `accuracy` is also `partial` while any included user has a failed window.

Introductions: the requester must be included too. A person who opted out (or is in an opted-out group)
is not recorded as having asked for one.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from functions.domain.contacts import contact_hash, normalise_address
from functions.domain.errors import (
    FeatureNotEnabled,
    FieldError,
    Forbidden,
    MembershipPending,
    NotFound,
    ValidationFailed,
)
from functions.domain.health import HealthConfig, relationship_health
from functions.domain.inclusion import TenantInclusion
from functions.domain.ingestion import UserProfile, is_partial
from functions.domain.insights import iso, relationship_kpis
from functions.domain.interactions import Interaction
from functions.domain.introductions import (
    DEFAULT_TEMPLATE,
    IntroductionRequest,
    IntroductionTemplate,
    Person,
    introduction_draft,
)
from functions.domain.metadata import DirectoryUser
from functions.domain.scope import Feature
from functions.domain.who_knows_whom import who_knows_whom
from functions.services.inclusion import InclusionReader
from functions.services.ports.ingestion import ContactStore, CursorStore, IntroductionStore

ALL_COLLEAGUES = 10_000
READ_THREADS = 16  # up to six reads per request, a few requests at once


@dataclass(frozen=True, slots=True)
class _Contact:
    tenant_id: str
    address: str
    interactions: list[Interaction]  # included users' interactions only
    partial: bool
    profiles: dict[str, UserProfile]  # included users' only
    inclusion: TenantInclusion


class InsightService:
    def __init__(
        self,
        inclusion: InclusionReader,
        contacts: ContactStore,
        cursors: CursorStore,
        introductions: IntroductionStore,
        *,
        contact_hash_key: bytes,
        health_config: HealthConfig | None = None,
    ) -> None:
        self._inclusion = inclusion
        self._contacts, self._cursors, self._introductions = contacts, cursors, introductions
        self._key = contact_hash_key
        self._health = health_config or HealthConfig()
        self._pool = ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="insight-read")

    def relationship(self, tenant_id: str, contact: str, now: datetime) -> dict[str, Any]:
        found = self._contact(tenant_id, contact, "relationship_analytics", now, all_profiles=False)
        kpis = relationship_kpis(found.interactions, now, partial=found.partial)
        health = relationship_health(found.interactions, now, config=self._health)
        return {"contact": found.address, **kpis.to_json(), "health": health.to_json()}

    def who_knows_whom(self, tenant_id: str, contact: str, now: datetime) -> dict[str, Any]:
        found = self._contact(tenant_id, contact, "who_knows_whom", now, all_profiles=True)
        colleagues = who_knows_whom(found.interactions, now, _directory(found.profiles))
        return {
            "contact": found.address,
            "colleagues": [c.to_json() for c in colleagues],
            "computedAt": iso(now),
            "accuracy": "partial" if found.partial else "complete",
        }

    def introduce(
        self, tenant_id: str, contact: str, colleague_user_id: str, requester_id: str | None, now: datetime
    ) -> dict[str, Any]:
        found = self._contact(tenant_id, contact, "who_knows_whom", now, all_profiles=True)
        if requester_id:
            decision = found.inclusion.decide(requester_id)
            if decision.transient:
                raise MembershipPending("group opt-outs are being applied; try again in a few seconds")
            if not decision.included:
                raise Forbidden("you are not included in these insights, so you cannot ask for introductions")
        colleague_id = colleague_user_id.lower()
        directory = _directory(found.profiles)
        known = {c.user_id for c in who_knows_whom(found.interactions, now, directory, limit=ALL_COLLEAGUES)}
        if colleague_id not in known:
            raise NotFound("this colleague has no known interactions with the contact")
        colleague = directory[colleague_id]
        requester = found.profiles.get((requester_id or "").lower())
        draft = introduction_draft(
            self.template(tenant_id),
            found.address,
            Person(colleague.display_name, colleague.mail or colleague.user_principal_name),
            Person(requester.display_name, requester.mail) if requester else Person("", ""),
        )
        stored = self._introductions.record(
            IntroductionRequest(
                tenant_id, requester_id or "", colleague_id, self._hash(tenant_id, found.address), now
            )
        )
        return {
            "id": stored.id,
            "contact": found.address,
            "colleagueUserId": colleague_id,
            "requestedAt": iso(now),
            "draft": draft.to_json(),
        }

    def template(self, tenant_id: str) -> IntroductionTemplate:
        return self._introductions.template(tenant_id.lower()) or DEFAULT_TEMPLATE

    def save_template(self, tenant_id: str, subject: str, body: str, now: datetime) -> IntroductionTemplate:
        template = IntroductionTemplate(subject=subject, body=body)  # validates (400 on a bad placeholder)
        self._introductions.save_template(tenant_id.lower(), template, now)
        return template

    # --- the common read ------------------------------------------------------------------------------------

    def _contact(
        self, tenant_id: str, text: str | None, feature: Feature, now: datetime, *, all_profiles: bool
    ) -> _Contact:
        if text is None or not text.strip():
            raise ValidationFailed(
                "the contact is required", [FieldError("contact", "an email address is required")]
            )
        address = normalise_address(text)
        tenant_id = tenant_id.lower()
        # Independent point/partition reads: issued at once, a read costs the slowest, not the sum. Nothing
        # read is returned unless the consent allows it. Names (profiles) only where colleagues are shown.
        pool = self._pool
        inclusion_f = pool.submit(self._inclusion.tenant, tenant_id, now)
        interactions_f = pool.submit(self._contacts.interactions, tenant_id, self._hash(tenant_id, address))
        profiles_f = pool.submit(self._cursors.profiles, tenant_id) if all_profiles else None
        failed_f = pool.submit(self._cursors.failed, tenant_id)
        inclusion = inclusion_f.result()
        if not inclusion.enabled(feature):
            raise FeatureNotEnabled(f"{feature} is not enabled for this tenant")
        interactions = interactions_f.result()
        decisions = {uid: inclusion.decide(uid) for uid in {f.user_id.lower() for f in interactions}}
        included = [f for f in interactions if decisions[f.user_id.lower()].included]
        unknown = any(d.transient for d in decisions.values())
        if not included and not unknown:
            raise NotFound("no interactions with this contact are known")
        partial = unknown or is_partial(failed_f.result(), inclusion.includes)
        profiles = profiles_f.result() if profiles_f is not None else {}
        visible = {uid: p for uid, p in profiles.items() if inclusion.includes(uid)}
        return _Contact(tenant_id, address, included, partial, visible, inclusion)

    def _hash(self, tenant_id: str, address: str) -> str:
        return contact_hash(self._key, tenant_id.lower(), address)


def _directory(profiles: dict[str, UserProfile]) -> dict[str, DirectoryUser]:
    """Colleagues who can be named: included users still in the directory."""
    return {
        uid: DirectoryUser(uid, p.display_name, p.mail, p.user_principal_name)
        for uid, p in profiles.items()
        if p.present
    }
