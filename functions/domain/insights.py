"""Relationship analytics KPIs for one external contact, over the included users (SPEC section 2).

Input is every stored `Interaction` about the contact, from every user's slice; `distinct_interactions`
drops excluded users' interactions, ignores anything outside the last 365 days up to `now`, and merges the
copies of one message (or meeting) held by several mailboxes into one occurrence. Then, precisely:

- `emailsSent` / `emailsReceived`: distinct emails with the contact written by our side / by the customer
  side (the contact, or a colleague of theirs writing to us with the contact among the recipients).
- `meetingsSent` / `meetingsReceived`: distinct meetings with the contact organised by our side / by the
  customer side (declined or not: the meeting happened for someone).
- `timeSpentByTeamMinutes`: an email is 5 minutes to write and 2.5 to read, so each email adds 5 for an
  included user who wrote it and 2.5 for each included user holding a copy they did not write; a meeting
  adds its length once per included user who has it in their calendar and did not decline. Only included
  users' own copies count: an excluded writer's 5 minutes are not counted, nor is an excluded reader's 2.5.
- `timeSpentByCustomerMinutes`: the contact's time: 5 for an email the contact wrote, 2.5 for one they
  received; a meeting's length once, unless the contact declined it.
- Responses (emails only, within a conversation; an email without a conversation ID has none): for each
  email from the customer side, our reply is the first later email (strictly later send time) from our side
  in the same conversation, and vice versa. `averageResponseHoursByUs` is the mean of those delays over the
  customer's emails that got a reply from us (`ByThem` symmetrically); `responseRateByUs` is the share of
  the customer's emails that got one. Three customer emails answered by one of ours count as three replies.
  None when there is nothing to average (no email from that side, or none answered).
- `lastInteraction`: the latest occurrence (time, kind, direction); None when there is none.
- `nextInteraction`: the earliest meeting with the contact starting after `now` (time, kind "meeting",
  direction: who organises it), on the calendar of an included user who has not declined it, and not
  declined by the contact; None when there is none. Future meetings are outside the window above, so they
  are read on their own (`upcoming_meetings`), under the same exclusion and merging rules; there is no
  horizon: how far ahead calendars are read is ingestion's choice.
- `timeline`: 52 calendar weeks, oldest first; a week starts Monday 00:00 UTC and the last one is the week
  containing `now`. Each week counts distinct emails and meetings by their time.
- `computedAt` is `now`; `accuracy` is "partial" while any included user's ingestion batch is failing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from functions.domain.interactions import (
    Direction,
    Interaction,
    Kind,
    Occurrence,
    distinct_interactions,
    upcoming_meetings,
)

Accuracy = Literal["complete", "partial"]

EMAIL_WRITE_MINUTES = 5.0
EMAIL_READ_MINUTES = 2.5
TIMELINE_WEEKS = 52


@dataclass(frozen=True, slots=True)
class LastInteraction:
    at: datetime
    kind: Kind
    direction: Direction


@dataclass(frozen=True, slots=True)
class NextInteraction:
    at: datetime  # the meeting's start
    direction: Direction  # "sent": our side organises it; "received": the customer side does
    kind: Kind = "meeting"  # only meetings are scheduled ahead


@dataclass(frozen=True, slots=True)
class WeekCount:
    week_start: date  # a Monday; the week is [week_start 00:00 UTC, +7 days)
    emails: int
    meetings: int


@dataclass(frozen=True, slots=True)
class RelationshipKpis:
    emails_sent: int
    emails_received: int
    meetings_sent: int
    meetings_received: int
    time_spent_by_team_minutes: float
    time_spent_by_customer_minutes: float
    average_response_hours_by_us: float | None
    average_response_hours_by_them: float | None
    response_rate_by_us: float | None  # 0..1
    response_rate_by_them: float | None  # 0..1
    last_interaction: LastInteraction | None
    timeline: tuple[WeekCount, ...]
    computed_at: datetime
    accuracy: Accuracy
    next_interaction: NextInteraction | None = None


def relationship_kpis(
    interactions: Iterable[Interaction],
    now: datetime,
    excluded_users: frozenset[str] = frozenset(),
    partial: bool = False,
) -> RelationshipKpis:
    """The KPIs of one contact from every included user's interactions about it (see the module docstring)."""
    interactions = list(interactions)  # read twice: the past year, and the meetings ahead
    occurrences = distinct_interactions(interactions, now, excluded_users)
    counts = {
        ("email", "sent"): 0,
        ("email", "received"): 0,
        ("meeting", "sent"): 0,
        ("meeting", "received"): 0,
    }
    team: list[float] = []
    customer: list[float] = []
    for occurrence in occurrences:
        interaction = occurrence.interaction
        counts[interaction.kind, interaction.direction] += 1
        team.append(_team_minutes(occurrence))
        customer.append(customer_minutes(interaction))
    by_us, by_them = _responses(occurrences)
    return RelationshipKpis(
        emails_sent=counts["email", "sent"],
        emails_received=counts["email", "received"],
        meetings_sent=counts["meeting", "sent"],
        meetings_received=counts["meeting", "received"],
        time_spent_by_team_minutes=round(math.fsum(team), 2),
        time_spent_by_customer_minutes=round(math.fsum(customer), 2),
        average_response_hours_by_us=by_us.average_hours,
        average_response_hours_by_them=by_them.average_hours,
        response_rate_by_us=by_us.rate,
        response_rate_by_them=by_them.rate,
        last_interaction=_last_interaction(occurrences),
        timeline=weekly_timeline(occurrences, now),
        computed_at=now,
        accuracy="partial" if partial else "complete",
        next_interaction=next_interaction(interactions, now, excluded_users),
    )


def next_interaction(
    interactions: Iterable[Interaction], now: datetime, excluded_users: frozenset[str] = frozenset()
) -> NextInteraction | None:
    """The earliest meeting ahead that an included user and the contact still plan to attend."""
    for occurrence in upcoming_meetings(interactions, now, excluded_users):
        interaction = occurrence.interaction
        if interaction.contact_role != "declined" and any(
            role != "declined" for _, role in occurrence.participants
        ):
            return NextInteraction(interaction.at, interaction.direction)
    return None


def _team_minutes(occurrence: Occurrence) -> float:
    interaction = occurrence.interaction
    if interaction.kind == "email":
        return sum(
            EMAIL_WRITE_MINUTES if role == "author" else EMAIL_READ_MINUTES
            for _, role in occurrence.participants
        )
    return interaction.minutes * sum(1 for _, role in occurrence.participants if role != "declined")


def customer_minutes(interaction: Interaction) -> float:
    """The contact's own time on one interaction (see `timeSpentByCustomerMinutes`)."""
    if interaction.kind == "email":
        return EMAIL_WRITE_MINUTES if interaction.contact_role == "author" else EMAIL_READ_MINUTES
    return 0.0 if interaction.contact_role == "declined" else interaction.minutes


@dataclass(frozen=True, slots=True)
class _ResponseStats:
    messages: int  # emails from the other side (with a conversation)
    delays_hours: tuple[float, ...]  # one per email that got a reply

    @property
    def average_hours(self) -> float | None:
        if not self.delays_hours:
            return None
        return round(math.fsum(self.delays_hours) / len(self.delays_hours), 2)

    @property
    def rate(self) -> float | None:
        return round(len(self.delays_hours) / self.messages, 4) if self.messages else None


def _responses(occurrences: Sequence[Occurrence]) -> tuple[_ResponseStats, _ResponseStats]:
    """(our replies to their emails, their replies to ours)."""
    conversations: dict[str, list[Interaction]] = {}
    for occurrence in occurrences:
        interaction = occurrence.interaction
        if interaction.kind == "email" and interaction.conversation:
            conversations.setdefault(interaction.conversation, []).append(interaction)
    messages = {"sent": 0, "received": 0}
    delays: dict[Direction, list[float]] = {"sent": [], "received": []}
    for emails in conversations.values():
        # Walk backwards so the earliest later email of each side is at hand; emails sent at the same
        # instant are not replies to each other, so a group of equal times is read before it is recorded.
        next_at: dict[Direction, datetime | None] = {"sent": None, "received": None}
        emails.sort(key=lambda email: email.at, reverse=True)
        index = 0
        while index < len(emails):
            end = index
            while end < len(emails) and emails[end].at == emails[index].at:
                end += 1
            for email in emails[index:end]:
                messages[email.direction] += 1
                reply_at = next_at["received" if email.direction == "sent" else "sent"]
                if reply_at is not None:
                    delays[email.direction].append((reply_at - email.at).total_seconds() / 3600.0)
            for email in emails[index:end]:
                next_at[email.direction] = email.at
            index = end
    by_us = _ResponseStats(messages["received"], tuple(delays["received"]))
    by_them = _ResponseStats(messages["sent"], tuple(delays["sent"]))
    return by_us, by_them


def _last_interaction(occurrences: Sequence[Occurrence]) -> LastInteraction | None:
    if not occurrences:
        return None
    last = max(
        (occurrence.interaction for occurrence in occurrences),
        key=lambda interaction: (interaction.at, interaction.kind, interaction.direction, interaction.key),
    )
    return LastInteraction(last.at, last.kind, last.direction)


def week_start(instant: datetime) -> date:
    """The Monday (UTC) of the week containing `instant`."""
    day = instant.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def weekly_timeline(occurrences: Iterable[Occurrence], now: datetime) -> tuple[WeekCount, ...]:
    first = week_start(now) - timedelta(weeks=TIMELINE_WEEKS - 1)
    emails = [0] * TIMELINE_WEEKS
    meetings = [0] * TIMELINE_WEEKS
    for occurrence in occurrences:
        interaction = occurrence.interaction
        if interaction.at > now:
            continue
        index = (interaction.at.astimezone(UTC).date() - first).days // 7
        if 0 <= index < TIMELINE_WEEKS:
            (emails if interaction.kind == "email" else meetings)[index] += 1
    return tuple(
        WeekCount(first + timedelta(weeks=week), emails[week], meetings[week])
        for week in range(TIMELINE_WEEKS)
    )
