"""Deterministic generation of a synthetic tenant: directory, then mails and meetings one month at a time.

Every piece is drawn from its own `random.Random` seeded by a string derived from the spec's seed and the
piece's coordinates (`"{seed}:mail:{month}:{user}"`), so one month can be generated without the others
(big mailboxes stream) and the same spec always gives byte-identical data. String seeds are hashed with
SHA-512 by `random`, so `PYTHONHASHSEED` does not matter.

Realism that the insight rules depend on: external contacts follow Zipf-like weights (a few heavy contacts,
a long tail) mixed with each user's own accounts; threads go both ways with log-normal reply delays (we
answer faster than customers); internal colleagues are cc'd or bcc'd (one message, several mailboxes);
meetings are organised on either side, with responses, some cancelled.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from random import Random

from graphsim.model import Address, Attendance, Contact, Group, Mail, Meeting, User

FIRST = (  # noqa: SIM905  (a name pool reads better as prose)
    "Adele Alex Allan Ben Chloe Diego Emily Enrico Farah Grady Hana Henrietta Irvin Isaiah Johanna Joni "
    "Kenji Lee Lidia Lynne Megan Miriam Nestor Nora Omar Patti Pradeep Quinn Raul Rosa Sanjay Sofia Tomas "
    "Una Vera Wei Xavier Yuki Zara Zoe"
).split()
LAST = (  # noqa: SIM905
    "Vance Wilber Deyoung Brown Lee Siciliani Braun Fourie Ali Archie Sato Watson Bruce Morgan Lambert "
    "Sherman Ito Gu Holt Patel Bowen Graham Allen Okafor Nakamura Fernandez Taylor Kim Singh Duarte Novak "
    "Jensen Rossi Haddad Petrov Chen Moreau Kowalski Dubois Schmidt"
).split()
SUBJECTS = (
    "Renewal terms",
    "Q3 proposal",
    "Pricing for the pilot",
    "Follow-up from our call",
    "Contract redlines",
    "Onboarding plan",
    "Security questionnaire",
    "Invoice 2291",
    "Roadmap preview",
    "Support escalation",
)
EXTERNAL_DOMAINS = (
    "fabrikam.com",
    "northwindtraders.com",
    "adatum.com",
    "litwareinc.com",
    "tailspintoys.com",
    "wingtiptoys.com",
    "woodgrovebank.com",
    "proseware.com",
)
DEFAULT_NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
ZIPF_EXPONENT = 1.1


@dataclass(frozen=True, slots=True)
class TenantSpec:
    """What to generate. `messages_per_user_per_month` counts the messages each user's own threads add;
    mailboxes also receive the cc's and replies of colleagues' threads, so they end up somewhat larger."""

    seed: int = 1
    users: int = 12
    external_contacts: int = 120
    months: int = 12
    messages_per_user_per_month: int = 30
    meetings_per_user_per_month: int = 4
    now: datetime = DEFAULT_NOW
    domains: tuple[str, ...] = ("contoso.com", "sales.contoso.com")
    external_domains: tuple[str, ...] = EXTERNAL_DOMAINS
    users_without_mailbox: int = 0
    tenant_id: str = ""  # derived from the seed when empty

    def __post_init__(self) -> None:
        if self.users < 1 or self.external_contacts < 1 or not self.domains or not self.external_domains:
            raise ValueError("a tenant needs at least one user, one contact and one domain of each kind")
        if not 1 <= self.months <= 24:
            raise ValueError("months must be between 1 and 24")
        if self.users_without_mailbox >= self.users:
            raise ValueError("at least one user must have a mailbox")
        if self.now.tzinfo is None:
            raise ValueError("now must be timezone-aware")

    @property
    def slice_length(self) -> timedelta:
        return timedelta(days=365 / 12)

    @property
    def start(self) -> datetime:
        return self.now - self.slice_length * self.months

    def slice_bounds(self, month: int) -> tuple[datetime, datetime]:
        """Month `month` (0 = oldest) as equal slices of the last `months` twelfths of a year."""
        lo = self.start + self.slice_length * month
        return lo, self.now if month == self.months - 1 else lo + self.slice_length

    def month_of(self, instant: datetime) -> int:
        """The slice holding `instant`, clamped: anything before or after the period goes to its ends."""
        index = math.floor((instant - self.start) / self.slice_length)
        return min(max(index, 0), self.months - 1)


@dataclass(frozen=True, slots=True)
class Directory:
    tenant_id: str
    users: tuple[User, ...]
    contacts: tuple[Contact, ...]
    contact_cum_weights: tuple[float, ...]
    accounts: tuple[tuple[Contact, ...], ...]  # per user index: the contacts that user works with most
    groups: tuple[Group, ...]
    group_users: dict[str, tuple[str, ...]] = field(default_factory=dict)
    group_groups: dict[str, tuple[str, ...]] = field(default_factory=dict)


def guid(rng: Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _names(rng: Random, count: int) -> list[tuple[str, str]]:
    pairs = [(f, last) for f in FIRST for last in LAST]
    if count <= len(pairs):
        return rng.sample(pairs, count)
    return [(f, f"{last}{i // len(pairs)}") for i, (f, last) in enumerate(pairs * (count // len(pairs) + 1))][
        :count
    ]


def build_directory(spec: TenantSpec) -> Directory:
    rng = Random(f"{spec.seed}:directory")
    tenant_id = spec.tenant_id or guid(rng)
    users: list[User] = []
    for i, (first, last) in enumerate(_names(rng, spec.users)):
        # One user in five sits on the second verified domain: "internal" is a domain list, not one suffix.
        domain = spec.domains[1] if len(spec.domains) > 1 and i % 5 == 4 else spec.domains[0]
        upn = f"{first}.{last}@{domain}"
        has_mailbox = i >= spec.users_without_mailbox
        users.append(User(guid(rng), f"{first} {last}", upn if has_mailbox else None, upn))

    contacts: list[Contact] = []
    seen: set[str] = set()
    domain_weights = [1 / (k + 1) for k in range(len(spec.external_domains))]
    for rank, (first, last) in enumerate(_names(rng, spec.external_contacts)):
        domain = rng.choices(spec.external_domains, weights=domain_weights)[0]
        local = f"{first}.{last}" if rank % 3 == 0 else f"{first[0]}{last}".lower()
        address = f"{local}@{domain}"
        if address.lower() in seen:
            address = f"{local}{rank}@{domain}"
        seen.add(address.lower())
        contacts.append(Contact(rank, f"{first} {last}", address))
    cum: list[float] = []
    total = 0.0
    for rank in range(len(contacts)):
        total += 1 / (rank + 1) ** ZIPF_EXPONENT
        cum.append(total)
    accounts = tuple(tuple(rng.sample(contacts, min(5, len(contacts)))) for _ in range(len(users)))

    groups, group_users, group_groups = _groups(rng, users)
    return Directory(
        tenant_id, tuple(users), tuple(contacts), tuple(cum), accounts, groups, group_users, group_groups
    )


def _groups(
    rng: Random, users: list[User]
) -> tuple[tuple[Group, ...], dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """All Staff ⊃ {Sales ⊃ Sales EMEA, Engineering}; Executives and Legal Hold hold users directly."""
    names = ("All Staff", "Sales", "Sales EMEA", "Engineering", "Executives", "Legal Hold")
    groups = {name: Group(guid(rng), name) for name in names}
    ids = [u.id for u in users]
    n = len(ids)
    sales_end, emea_end = max(1, round(n * 0.4)), max(1, round(n * 0.6))
    members = {
        "All Staff": (),
        "Sales": tuple(ids[:sales_end]),
        "Sales EMEA": tuple(ids[sales_end:emea_end]),
        "Engineering": tuple(ids[emea_end:]),
        "Executives": tuple(rng.sample(ids, min(2, n))),
        "Legal Hold": (ids[-1],),
    }
    nested = {"All Staff": ("Sales", "Engineering"), "Sales": ("Sales EMEA",)}
    group_users = {groups[name].id: members[name] for name in names}
    group_groups = {groups[k].id: tuple(groups[g].id for g in v) for k, v in nested.items()}
    return tuple(groups.values()), group_users, group_groups


def _business_time(rng: Random, lo: datetime, hi: datetime) -> datetime:
    """A moment in [lo, hi), pulled towards working hours (07:00-18:00 UTC) as real mail is."""
    span = (hi - lo).total_seconds()
    for _ in range(4):
        t = lo + timedelta(seconds=rng.random() * span)
        if 7 <= t.hour < 18 and t.weekday() < 5:
            return t
    return t


@dataclass(frozen=True, slots=True)
class _Author:
    """One user's draw for one month slice: their own random stream, colleagues and time bounds."""

    rng: Random
    directory: Directory
    index: int
    user: User
    others: list[User]
    lo: datetime
    hi: datetime

    def contact(self) -> Contact:
        if self.rng.random() < 0.35:
            return self.rng.choice(self.directory.accounts[self.index])
        return self.rng.choices(self.directory.contacts, cum_weights=self.directory.contact_cum_weights)[0]


def _authors(spec: TenantSpec, d: Directory, month: int, stream: str) -> Iterator[_Author]:
    lo, hi = spec.slice_bounds(month)
    colleagues = [u for u in d.users if u.mail]
    for i, user in enumerate(d.users):
        if user.mail:
            others = [c for c in colleagues if c.id != user.id]
            yield _Author(Random(f"{spec.seed}:{stream}:{month}:{i}"), d, i, user, others, lo, hi)


def _message_id(rng: Random, sender: Address) -> str:
    return f"<{rng.getrandbits(96):024X}@{sender.address.rsplit('@', 1)[-1].lower()}>"


def mails_for_month(spec: TenantSpec, d: Directory, month: int) -> list[Mail]:
    """Every mail sent in slice `month`, oldest first."""
    out: list[Mail] = []
    for author in _authors(spec, d, month, "mail"):
        produced = 0
        while produced < spec.messages_per_user_per_month:
            produced += _thread(author, out)
    out.sort(key=lambda m: m.sent_at)
    return out


def _thread(a: _Author, out: list[Mail]) -> int:
    """Append one conversation started in the slice; returns how many messages it has."""
    rng, others = a.rng, a.others
    t = _business_time(rng, a.lo, a.hi)
    conversation = f"AAQkAD{rng.getrandbits(128):032X}"
    subject = rng.choice(SUBJECTS)
    us = a.user.address
    if others and rng.random() < 0.12:  # internal chatter: must not count towards any contact
        them = rng.choice(others).address
        heavy = 0.5
    else:
        contact = a.contact()
        them = Address(contact.name, contact.address)
        heavy = 1 - contact.rank / len(a.directory.contacts)
    cc_internal = (rng.choice(others).address,) if others and rng.random() < 0.2 else ()
    bcc = (rng.choice(others).address,) if others and rng.random() < 0.04 else ()
    if rng.random() < 0.01:
        draft = Mail(
            _message_id(rng, us),
            conversation,
            subject,
            us,
            (them,),
            (),
            (),
            t.replace(microsecond=0),
            is_draft=True,
        )
        out.append(draft)
        return 1
    ours = rng.random() >= 0.45  # who writes first
    count = 0
    while True:
        sender, recipient = (us, them) if ours else (them, us)
        out.append(
            Mail(
                _message_id(rng, sender),
                conversation,
                ("Re: " if count else "") + subject,
                sender,
                (recipient,),
                cc_internal,
                bcc if ours and count == 0 else (),
                t.replace(microsecond=0),  # Graph shows whole seconds; keep filters and display in step
            )
        )
        count += 1
        replier_is_us = not ours
        # We answer most mail within hours; customers answer less often and later, heavy contacts more.
        chance = 0.75 if replier_is_us else 0.35 + 0.45 * heavy
        if count >= 6 or rng.random() > chance:
            return count
        hours = rng.lognormvariate(math.log(3.0 if replier_is_us else 9.0), 1.0)
        t += timedelta(hours=max(hours, 0.08))
        if t >= a.hi:
            return count
        ours = replier_is_us


_RESPONSES = ("accepted", "tentativelyAccepted", "declined", "none")
_RESPONSE_WEIGHTS = (0.6, 0.15, 0.1, 0.15)


def meetings_for_month(spec: TenantSpec, d: Directory, month: int) -> list[Meeting]:
    """Every meeting starting in slice `month`, earliest first."""
    out = [
        _meeting(author)
        for author in _authors(spec, d, month, "meet")
        for _ in range(spec.meetings_per_user_per_month)
    ]
    out.sort(key=lambda m: m.start)
    return out


def _meeting(a: _Author) -> Meeting:
    rng, others, user = a.rng, a.others, a.user
    start = _business_time(rng, a.lo, a.hi).replace(second=0, microsecond=0)
    start = start.replace(minute=0 if start.minute < 30 else 30)
    minutes = rng.choice((30, 30, 45, 60, 60, 90))
    internal = [u.address for u in rng.sample(others, min(len(others), rng.randint(0, 2)))]
    externals: list[Address] = []
    if not (others and rng.random() < 0.1):  # one meeting in ten is internal only
        for _ in range(rng.choice((1, 1, 1, 2))):
            contact = a.contact()
            if all(a.address != contact.address for a in externals):
                externals.append(Address(contact.name, contact.address))
    if externals and rng.random() < 0.35:  # the customer side organises
        organizer = externals[0]
        invited = [user.address, *internal, *externals[1:]]
    else:
        organizer = user.address
        invited = [*internal, *externals]
    attendees = tuple(
        Attendance(
            a,
            "optional" if rng.random() < 0.15 else "required",
            rng.choices(_RESPONSES, weights=_RESPONSE_WEIGHTS)[0],
        )
        for a in invited
    )
    return Meeting(
        f"040000008200E00074C5B7101A82E008{rng.getrandbits(160):040X}",
        rng.choice(SUBJECTS),
        organizer,
        attendees,
        start,
        start + timedelta(minutes=minutes),
        rng.random() < 0.06,
    )
