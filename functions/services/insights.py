"""The insight use cases: relationship analytics (a contact, an account), who knows whom, get introduced.

A read is: the feature enabled (else `FeatureNotEnabled`, 404), the address normalised and hashed with the
tenant ID lower-cased (as ingestion hashed it), the contact's interactions from its one partition of the
contact index, every user the inclusion decision (functions/domain/inclusion.py) does not include dropped,
then the pure rules. A contact with no interaction from an included user is unknown (404): excluded people
are never visible, not even as "someone knows them". While a changed group list is being resolved, users whose
membership is unknown are hidden too and the answer says `accuracy: "partial"` (and is not a 404: the
contact may well be known). `accuracy` is also `partial` while any included user has a failed window.

Introductions: the requester must be included too. A person who opted out (or is in an opted-out group)
is not recorded as having asked for one.

Accounts: the contacts of one external domain, found through the account index (the domain hashed like an
address), each read as above; the account's KPIs and health are computed over their union.

Scores follow the tenant's insight settings (weights, grade bounds, cadence; `InsightSettings`), read with
every request: scores are computed at read time, so a change applies to the next answer and nothing stored
is ever recomputed. The answers are typed; functions/entrypoints/insights_views.py makes them JSON.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from functions.domain.accounts import AccountRelationships, account_relationships
from functions.domain.contacts import account_hash, contact_hash, normalise_address, normalise_domain
from functions.domain.errors import (
    FeatureNotEnabled,
    FieldError,
    Forbidden,
    MembershipPending,
    NotFound,
    ValidationFailed,
)
from functions.domain.health import Health, relationship_health
from functions.domain.health_config import HealthConfig
from functions.domain.inclusion import TenantInclusion
from functions.domain.ingestion import UserProfile, is_partial
from functions.domain.insights import Accuracy, RelationshipKpis, relationship_kpis
from functions.domain.interactions import Interaction
from functions.domain.introductions import (
    DEFAULT_TEMPLATE,
    Draft,
    IntroductionRequest,
    IntroductionTemplate,
    Person,
    introduction_draft,
)
from functions.domain.metadata import DirectoryUser
from functions.domain.scope import Feature
from functions.domain.who_knows_whom import Colleague, who_knows_whom
from functions.services.inclusion import InclusionReader
from functions.services.ports.ingestion import (
    AccountStore,
    ContactStore,
    CursorStore,
    IntroductionStore,
    SettingsStore,
)

ALL_COLLEAGUES = 10_000
READ_THREADS = 16  # up to six reads per request, a few requests at once


@dataclass(frozen=True, slots=True)
class RelationshipAnswer:
    contact: str  # the address asked about, normalised
    kpis: RelationshipKpis
    health: Health


@dataclass(frozen=True, slots=True)
class WhoKnowsWhomAnswer:
    contact: str
    colleagues: tuple[Colleague, ...]
    computed_at: datetime
    accuracy: Accuracy


@dataclass(frozen=True, slots=True)
class IntroductionAnswer:
    id: str
    contact: str
    colleague_user_id: str
    requested_at: datetime
    draft: Draft


@dataclass(frozen=True, slots=True)
class AccountAnswer:
    domain: str
    relationships: AccountRelationships


@dataclass(frozen=True, slots=True)
class _Reading:
    """What one request may see of a tenant: its inclusion decision, profiles and settings."""

    tenant_id: str
    inclusion: TenantInclusion
    profiles: dict[str, UserProfile]  # included users' only
    config: HealthConfig
    failing: bool  # an included user's window is failing


@dataclass(frozen=True, slots=True)
class _Contact:
    address: str
    interactions: list[Interaction]  # included users' interactions only
    partial: bool
    reading: _Reading


class InsightService:
    def __init__(
        self,
        inclusion: InclusionReader,
        contacts: ContactStore,
        cursors: CursorStore,
        introductions: IntroductionStore,
        *,
        accounts: AccountStore,
        settings: SettingsStore,
        contact_hash_key: bytes,
    ) -> None:
        self._inclusion = inclusion
        self._contacts, self._cursors, self._introductions = contacts, cursors, introductions
        self._accounts, self._settings = accounts, settings
        self._key = contact_hash_key
        self._pool = ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="insight-read")

    def relationship(self, tenant_id: str, contact: str | None, now: datetime) -> RelationshipAnswer:
        found = self._contact(tenant_id, contact, "relationship_analytics", now, all_profiles=False)
        config = found.reading.config
        return RelationshipAnswer(
            found.address,
            relationship_kpis(found.interactions, now, partial=found.partial),
            relationship_health(found.interactions, now, config=config),
        )

    def who_knows_whom(self, tenant_id: str, contact: str | None, now: datetime) -> WhoKnowsWhomAnswer:
        found = self._contact(tenant_id, contact, "who_knows_whom", now, all_profiles=True)
        cadence = found.reading.config.cadence
        colleagues = who_knows_whom(
            found.interactions, now, _directory(found.reading.profiles), cadence=cadence
        )
        return WhoKnowsWhomAnswer(
            found.address, tuple(colleagues), now, "partial" if found.partial else "complete"
        )

    def account(
        self, tenant_id: str, domain: str | None, now: datetime, known_contacts: tuple[str, ...] = ()
    ) -> AccountAnswer:
        """The relationship analytics of an account; `known_contacts` are addresses the caller knows, so the
        top contacts can be named (addresses are not stored)."""
        if domain is None or not domain.strip():
            raise ValidationFailed("the domain is required", [FieldError("domain", "a domain is required")])
        name = normalise_domain(domain)
        tenant_id = tenant_id.lower()
        labels = self._known_labels(tenant_id, known_contacts)
        reading_f = self._pool.submit(self._reading, tenant_id, now, all_profiles=True)
        contacts = self._accounts.contacts(tenant_id, account_hash(self._key, tenant_id, name))
        reading = reading_f.result()
        _require(reading.inclusion, "relationship_analytics")
        per_contact = dict(
            zip(
                contacts,
                self._pool.map(lambda c: self._contacts.interactions(tenant_id, c), contacts),
                strict=True,
            )
        )
        included, unknown = {}, False
        for contact, interactions in per_contact.items():
            kept, hidden = _included(reading.inclusion, interactions)
            unknown = unknown or hidden
            if kept:
                included[contact] = kept
        if not included and not unknown:
            raise NotFound("no interactions with this account are known")
        relationships = account_relationships(
            included, now, _directory(reading.profiles), config=reading.config, addresses=labels,
            partial=unknown or reading.failing,
        )  # fmt: skip
        return AccountAnswer(name, relationships)

    def _known_labels(self, tenant_id: str, known_contacts: tuple[str, ...]) -> dict[str, str]:
        """Contact key -> the address the caller named; every invalid address named by its index."""
        labels: dict[str, str] = {}
        errors: list[FieldError] = []
        for index, address in enumerate(known_contacts):
            try:
                normal = normalise_address(address)
            except ValidationFailed as error:
                reason = error.errors[0].message if error.errors else "is not an email address"
                errors.append(FieldError(f"knownContacts[{index}]", reason))
                continue
            labels[self._hash(tenant_id, normal)] = normal
        if errors:
            raise ValidationFailed("knownContacts holds addresses that are not valid", errors)
        return labels

    def introduce(
        self, tenant_id: str, contact: str, colleague_user_id: str, requester_id: str | None, now: datetime
    ) -> IntroductionAnswer:
        found = self._contact(tenant_id, contact, "who_knows_whom", now, all_profiles=True)
        if requester_id:
            decision = found.reading.inclusion.decide(requester_id)
            if decision.transient:
                raise MembershipPending("group opt-outs are being applied; try again in a few seconds")
            if not decision.included:
                raise Forbidden("you are not included in these insights, so you cannot ask for introductions")
        colleague_id = colleague_user_id.lower()
        directory = _directory(found.reading.profiles)
        known = {c.user_id for c in who_knows_whom(found.interactions, now, directory, limit=ALL_COLLEAGUES)}
        if colleague_id not in known:
            raise NotFound("this colleague has no known interactions with the contact")
        colleague = directory[colleague_id]
        requester = found.reading.profiles.get((requester_id or "").lower())
        draft = introduction_draft(
            self.template(tenant_id),
            found.address,
            Person(colleague.display_name, colleague.mail or colleague.user_principal_name),
            Person(requester.display_name, requester.mail) if requester else Person("", ""),
        )
        stored = self._introductions.record(
            IntroductionRequest(
                tenant_id.lower(), requester_id or "", colleague_id, self._hash(tenant_id, found.address), now
            )
        )
        return IntroductionAnswer(stored.id, found.address, colleague_id, now, draft)

    def template(self, tenant_id: str) -> IntroductionTemplate:
        return self._introductions.template(tenant_id.lower()) or DEFAULT_TEMPLATE

    def save_template(self, tenant_id: str, subject: str, body: str, now: datetime) -> IntroductionTemplate:
        template = IntroductionTemplate(subject=subject, body=body)  # validates (400 on a bad placeholder)
        self._introductions.save_template(tenant_id.lower(), template, now)
        return template

    # --- the common reads -----------------------------------------------------------------------------------

    def _reading(self, tenant_id: str, now: datetime, *, all_profiles: bool) -> _Reading:
        # Independent point/partition reads: issued at once, a read costs the slowest, not the sum. Names
        # (profiles) only where colleagues are shown.
        pool = self._pool
        inclusion_f = pool.submit(self._inclusion.tenant, tenant_id, now)
        profiles_f = pool.submit(self._cursors.profiles, tenant_id) if all_profiles else None
        failed_f = pool.submit(self._cursors.failed, tenant_id)
        settings_f = pool.submit(self._settings.insight_settings, tenant_id)
        inclusion = inclusion_f.result()
        profiles = profiles_f.result() if profiles_f is not None else {}
        return _Reading(
            tenant_id,
            inclusion,
            {uid: p for uid, p in profiles.items() if inclusion.includes(uid)},
            settings_f.result() or HealthConfig(),
            is_partial(failed_f.result(), inclusion.includes),
        )

    def _contact(
        self, tenant_id: str, text: str | None, feature: Feature, now: datetime, *, all_profiles: bool
    ) -> _Contact:
        if text is None or not text.strip():
            raise ValidationFailed(
                "the contact is required", [FieldError("contact", "an email address is required")]
            )
        address = normalise_address(text)
        tenant_id = tenant_id.lower()
        interactions_f = self._pool.submit(
            self._contacts.interactions, tenant_id, self._hash(tenant_id, address)
        )
        reading = self._reading(tenant_id, now, all_profiles=all_profiles)
        _require(reading.inclusion, feature)  # nothing read is returned unless the consent allows it
        included, unknown = _included(reading.inclusion, interactions_f.result())
        if not included and not unknown:
            raise NotFound("no interactions with this contact are known")
        return _Contact(address, included, unknown or reading.failing, reading)

    def _hash(self, tenant_id: str, address: str) -> str:
        return contact_hash(self._key, tenant_id.lower(), address)


def _require(inclusion: TenantInclusion, feature: Feature) -> None:
    if not inclusion.enabled(feature):
        raise FeatureNotEnabled(f"{feature} is not enabled for this tenant")


def _included(inclusion: TenantInclusion, interactions: list[Interaction]) -> tuple[list[Interaction], bool]:
    """The interactions of included users, and whether anyone was hidden only for not being decided yet."""
    decisions = {uid: inclusion.decide(uid) for uid in {i.user_id.lower() for i in interactions}}
    kept = [i for i in interactions if decisions[i.user_id.lower()].included]
    return kept, any(d.transient for d in decisions.values())


def _directory(profiles: dict[str, UserProfile]) -> dict[str, DirectoryUser]:
    """Colleagues who can be named: included users still in the directory."""
    return {
        uid: DirectoryUser(uid, p.display_name, p.mail, p.user_principal_name)
        for uid, p in profiles.items()
        if p.present
    }
