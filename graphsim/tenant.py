"""A synthetic Microsoft 365 tenant: its directory, mailboxes and calendars, with run-time changes.

The directory is built up front (small); mail and meetings are generated one month slice at a time and kept
in a small LRU cache, indexed per mailbox, so a 50,000-message mailbox can be listed with a few months in
memory at most. Run-time changes (group membership, a deleted user, a newly delivered mail) are what the
"membership change", "user who disappears" and delta tests need.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from graphsim.generate import TenantSpec, build_directory, mails_for_month, meetings_for_month
from graphsim.model import Address, Attendance, Contact, EventCopy, Group, Mail, MailCopy, Meeting, User

# Recipients see a mail a moment after it was sent; the sender's copy is stamped with the send time.
DELIVERY_DELAY = timedelta(seconds=2)
# Longest generated meeting: an event starting this long before a window can still overlap it.
MAX_MEETING = timedelta(minutes=90)
# Months kept generated: as many as fit this many mailbox copies (at least two), so a normal tenant (the
# 100-user, 100,000-message benchmark tenant included: windows of every month run at once, and a month
# regenerated for each of them made the simulator the bottleneck) is generated once, while a huge mailbox
# still streams.
_CACHE_BUDGET_COPIES = 400_000
_MONTHS_AHEAD = 4  # the calendar is read up to 90 days past the tenant's `now`


@dataclass(frozen=True, slots=True)
class _Month:
    mail: dict[str, list[MailCopy]]  # mailbox user ID -> copies, by received time
    events: dict[str, list[EventCopy]]  # mailbox user ID -> copies, by start


class Tenant:
    def __init__(self, spec: TenantSpec | None = None) -> None:
        self.spec = spec or TenantSpec()
        d = build_directory(self.spec)
        self._directory = d
        self.tenant_id = d.tenant_id
        self.contacts: tuple[Contact, ...] = d.contacts
        self.groups: tuple[Group, ...] = d.groups
        self._lock = threading.RLock()
        self._users: dict[str, User] = {u.id: u for u in d.users}
        self._deleted: set[str] = set()
        self._mailbox_of: dict[str, str] = {u.mail.lower(): u.id for u in d.users if u.mail}
        self._group_users = {g: set(m) for g, m in d.group_users.items()}
        self._group_groups = {g: tuple(m) for g, m in d.group_groups.items()}
        self._extra: list[Mail] = []
        self._extra_meetings: dict[str, Meeting] = {}  # iCalUId -> meeting added at run time
        self._seq = 0
        self._months: OrderedDict[int, _Month] = OrderedDict()
        per_month = self.spec.users * (self.spec.messages_per_user_per_month * 3 // 2 + 1)
        self._cached_months = max(2, min(self.spec.months + _MONTHS_AHEAD, _CACHE_BUDGET_COPIES // per_month))

    # --- directory ---------------------------------------------------------------------------------------

    @property
    def verified_domains(self) -> tuple[str, ...]:
        return self.spec.domains

    def users(self) -> list[User]:
        with self._lock:
            return [u for u in self._users.values() if u.id not in self._deleted]

    def user(self, user_id: str) -> User | None:
        """The live user with this ID (Graph IDs are case-insensitive GUIDs)."""
        with self._lock:
            user = self._users.get(user_id.lower())
            return None if user is None or user.id in self._deleted else user

    def group(self, group_id: str) -> Group | None:
        return next((g for g in self.groups if g.id == group_id.lower()), None)

    def group_named(self, name: str) -> Group:
        return next(g for g in self.groups if g.display_name == name)

    def transitive_user_ids(self, group_id: str) -> list[str]:
        """Users of the group and of every group nested in it, once each, in a stable order."""
        with self._lock:
            seen_groups: set[str] = set()
            out: dict[str, None] = {}
            pending = [group_id.lower()]
            while pending:
                gid = pending.pop(0)
                if gid in seen_groups:
                    continue
                seen_groups.add(gid)
                out.update(
                    (u, None) for u in sorted(self._group_users.get(gid, ())) if u not in self._deleted
                )
                pending.extend(self._group_groups.get(gid, ()))
            return list(out)

    def add_to_group(self, group_id: str, user_id: str) -> None:
        with self._lock:
            self._group_users.setdefault(group_id.lower(), set()).add(user_id.lower())

    def remove_from_group(self, group_id: str, user_id: str) -> None:
        with self._lock:
            self._group_users.get(group_id.lower(), set()).discard(user_id.lower())

    def delete_user(self, user_id: str) -> None:
        """The user disappears: absent from listings and groups, their mailbox answers 404. Mail they
        exchanged stays in colleagues' mailboxes, as in Exchange."""
        with self._lock:
            self._deleted.add(user_id.lower())

    @property
    def months_in_memory(self) -> int:
        """How many generated months are cached now (bounded: big mailboxes stream)."""
        with self._lock:
            return len(self._months)

    # --- mail ---------------------------------------------------------------------------------------------

    @property
    def change_seq(self) -> int:
        with self._lock:
            return self._seq

    def add_mail(
        self,
        sender: Address,
        to: tuple[Address, ...],
        cc: tuple[Address, ...] = (),
        at: datetime | None = None,
        conversation_id: str | None = None,
    ) -> Mail:
        """Deliver a new mail now (or `at`): it shows up in listings and in the next delta round."""
        with self._lock:
            self._seq += 1
            mail = Mail(
                f"<SIM{self._seq:08d}@{sender.address.rsplit('@', 1)[-1].lower()}>",
                conversation_id or f"AAQkSIM{self._seq:026d}",
                "New message",
                sender,
                to,
                cc,
                (),
                at or self.spec.now,
                seq=self._seq,
            )
            self._extra.append(mail)
            self._months.pop(self.spec.month_of(mail.sent_at), None)
            return mail

    def add_meeting(
        self, organizer: Address, attendees: tuple[Address, ...], start: datetime, minutes: int = 30
    ) -> Meeting:
        """Put a meeting on the calendars of its participants (in the past, or planned ahead of `spec.now`:
        a calendarView reaching past now shows it); attendees have accepted."""
        with self._lock:
            self._seq += 1
            meeting = Meeting(
                f"040000008200E00074C5B7101A82E008SIMADDED{self._seq:032X}",
                "Added meeting",
                organizer,
                tuple(Attendance(a, "required", "accepted") for a in attendees),
                start,
                start + timedelta(minutes=minutes),
                is_cancelled=False,
            )
            self._extra_meetings[meeting.ical_uid] = meeting
            self._months.pop(self.spec.month_of(start), None)
            return meeting

    def cancel_meeting(self, ical_uid: str) -> Meeting:
        """Cancel a meeting added by `add_meeting`: calendars keep it, marked cancelled (as Exchange does)."""
        with self._lock:
            meeting = replace(self._extra_meetings[ical_uid], is_cancelled=True)
            self._extra_meetings[ical_uid] = meeting
            self._months.pop(self.spec.month_of(meeting.start), None)
            return meeting

    def mail_copies(
        self, user_id: str, start: datetime, end: datetime, *, descending: bool = False
    ) -> Iterator[MailCopy]:
        """The mailbox's copies received in [start, end), ordered by received time."""
        uid = user_id.lower()
        months = range(self.spec.month_of(start - DELIVERY_DELAY), self.spec.month_of(end) + 1)
        for month in reversed(months) if descending else months:
            copies = self._month(month).mail.get(uid, [])
            for copy in reversed(copies) if descending else copies:
                if start <= copy.received_at < end:
                    yield copy

    def mail_changes(self, user_id: str, after_seq: int, upto_seq: int) -> list[MailCopy]:
        """Copies of run-time mail with after_seq < seq <= upto_seq in this mailbox (what delta reports)."""
        uid = user_id.lower()
        with self._lock:
            fresh = [m for m in self._extra if after_seq < m.seq <= upto_seq]
        return [c for m in fresh for c in self._copies(m) if c.mailbox_user_id == uid]

    def event_copies(self, user_id: str, start: datetime, end: datetime) -> Iterator[EventCopy]:
        """The calendar's events overlapping [start, end), by start time (a calendarView)."""
        uid = user_id.lower()
        for month in range(self.spec.month_of(start - MAX_MEETING), self.spec.month_of(end) + 1):
            for copy in self._month(month).events.get(uid, []):
                if copy.meeting.start < end and copy.meeting.end > start:
                    yield copy

    def copies_of_mail(self, mail: Mail) -> list[MailCopy]:
        """The mailbox copies of one mail (what a change notification reports, one per mailbox)."""
        with self._lock:
            return self._copies(mail)

    def copies_of_meeting(self, meeting: Meeting) -> list[EventCopy]:
        """The calendar copies of one meeting: the organizer's and internal attendees'."""
        with self._lock:
            return self._event_copies(meeting)

    def _copies(self, mail: Mail) -> list[MailCopy]:
        sender_box = self._mailbox_of.get(mail.sender.address.lower())
        out = [MailCopy(sender_box, mail, mail.sent_at, is_sender_copy=True)] if sender_box else []
        if mail.is_draft:
            return out
        received = mail.sent_at + DELIVERY_DELAY
        seen = {sender_box}
        for who in (*mail.to, *mail.cc, *mail.bcc):
            box = self._mailbox_of.get(who.address.lower())
            if box and box not in seen:
                seen.add(box)
                out.append(MailCopy(box, mail, received, is_sender_copy=False))
        return out

    def _event_copies(self, meeting: Meeting) -> list[EventCopy]:
        out: list[EventCopy] = []
        organizer_box = self._mailbox_of.get(meeting.organizer.address.lower())
        if organizer_box:
            out.append(EventCopy(organizer_box, meeting, is_organizer=True))
        seen = {organizer_box}
        for attendance in meeting.attendees:
            box = self._mailbox_of.get(attendance.who.address.lower())
            if box and box not in seen:
                seen.add(box)
                out.append(EventCopy(box, meeting, is_organizer=False))
        return out

    def _month(self, month: int) -> _Month:
        with self._lock:
            cached = self._months.get(month)
            if cached is not None:
                self._months.move_to_end(month)
                return cached
            mails = mails_for_month(self.spec, self._directory, month)
            mails.extend(m for m in self._extra if self.spec.month_of(m.sent_at) == month)
            by_box: dict[str, list[MailCopy]] = {}
            for mail in mails:
                for copy in self._copies(mail):
                    by_box.setdefault(copy.mailbox_user_id, []).append(copy)
            for copies in by_box.values():
                copies.sort(key=lambda c: c.received_at)
            events: dict[str, list[EventCopy]] = {}
            added = [m for m in self._extra_meetings.values() if self.spec.month_of(m.start) == month]
            for meeting in [*meetings_for_month(self.spec, self._directory, month), *added]:
                for ev in self._event_copies(meeting):
                    events.setdefault(ev.mailbox_user_id, []).append(ev)
            for copies_of_box in events.values():
                copies_of_box.sort(key=lambda c: c.meeting.start)
            built = _Month(by_box, events)
            self._months[month] = built
            while len(self._months) > self._cached_months:
                self._months.popitem(last=False)
            return built
