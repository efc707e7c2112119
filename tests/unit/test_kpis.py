"""Relationship analytics KPIs for one contact (functions/domain/insights.py)."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace
from datetime import date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from functions.domain.insights import LastInteraction, relationship_kpis, week_start
from functions.domain.interactions import Interaction
from functions.entrypoints.insights_views import kpis_view
from tests.support.interactions import NOW, USERS, email, histories, meeting

T = NOW - timedelta(days=10)
EXCLUDED = "zoe"


def test_an_email_in_three_mailboxes_counts_once() -> None:
    copies = [email("m1", at=T, user=user) for user in ("alice", "bob", "carol")]

    assert relationship_kpis(copies, NOW).emails_received == 1


def test_a_meeting_in_three_calendars_counts_once() -> None:
    copies = [meeting("e1", at=T, user=user, user_role="attendee") for user in ("alice", "bob", "carol")]

    assert relationship_kpis(copies, NOW).meetings_sent == 1


def test_emails_and_meetings_are_counted_by_the_side_that_wrote_or_organised_them() -> None:
    interactions = [
        email("s1", at=T, direction="sent"),
        email("s2", at=T, direction="sent"),
        email("r1", at=T, direction="received"),
        meeting("ms1", at=T, direction="sent"),
        meeting("mr1", at=T, direction="received"),
        meeting("mr2", at=T, direction="received"),
    ]

    kpis = relationship_kpis(interactions, NOW)

    assert (kpis.emails_sent, kpis.emails_received) == (2, 1)
    assert (kpis.meetings_sent, kpis.meetings_received) == (1, 2)


def test_our_email_costs_the_writer_5_and_each_copied_colleague_2_5_and_the_contact_2_5() -> None:
    interactions = [
        email("m1", at=T, direction="sent", user="alice", user_role="author"),
        email("m1", at=T, direction="sent", user="bob", user_role="reader"),
    ]

    kpis = relationship_kpis(interactions, NOW)

    assert kpis.time_spent_by_team_minutes == 5 + 2.5
    assert kpis.time_spent_by_customer_minutes == 2.5


def test_the_contacts_email_costs_them_5_and_each_of_our_readers_2_5() -> None:
    interactions = [email("m1", at=T, user="alice"), email("m1", at=T, user="bob")]

    kpis = relationship_kpis(interactions, NOW)

    assert kpis.time_spent_by_team_minutes == 2.5 + 2.5
    assert kpis.time_spent_by_customer_minutes == 5


def test_an_email_from_the_contacts_colleague_counts_as_received_and_the_contact_reads_it() -> None:
    kpis = relationship_kpis([email("m1", at=T, contact_role="reader")], NOW)

    assert kpis.emails_received == 1
    assert kpis.time_spent_by_customer_minutes == 2.5


def test_a_meeting_counts_its_length_per_internal_attendee_and_once_for_the_customer() -> None:
    interactions = [
        meeting("e1", at=T, user="alice", user_role="organizer", minutes=60),
        meeting("e1", at=T, user="bob", user_role="attendee", minutes=60),
        meeting("e1", at=T, user="carol", user_role="declined", minutes=60),
    ]

    kpis = relationship_kpis(interactions, NOW)

    assert kpis.time_spent_by_team_minutes == 2 * 60
    assert kpis.time_spent_by_customer_minutes == 60


def test_a_meeting_the_contact_declined_costs_them_nothing_but_still_counts() -> None:
    kpis = relationship_kpis([meeting("e1", at=T, contact_role="declined", minutes=30)], NOW)

    assert kpis.meetings_sent == 1
    assert kpis.time_spent_by_customer_minutes == 0
    assert kpis.time_spent_by_team_minutes == 30


def test_an_excluded_writers_copy_is_ignored_but_a_colleagues_copy_still_counts() -> None:
    interactions = [
        email("m1", at=T, direction="sent", user=EXCLUDED, user_role="author"),
        email("m1", at=T, direction="sent", user="bob", user_role="reader"),
    ]

    kpis = relationship_kpis(interactions, NOW, excluded_users=frozenset({EXCLUDED}))

    assert kpis.emails_sent == 1
    assert (
        kpis.time_spent_by_team_minutes == 2.5
    )  # bob read it; the excluded writer's 5 minutes are not counted


def test_an_interaction_only_an_excluded_user_holds_does_not_exist_for_the_insights() -> None:
    interactions = [email("m1", at=T, user=EXCLUDED), meeting("e1", at=T, user=EXCLUDED)]

    kpis = relationship_kpis(interactions, NOW, excluded_users=frozenset({EXCLUDED}))

    assert kpis == relationship_kpis([], NOW)


def test_response_times_pair_each_email_with_the_first_later_email_of_the_other_side() -> None:
    interactions = [
        email("r1", at=T, direction="received"),
        email("s1", at=T + timedelta(hours=2), direction="sent"),
        email("r2", at=T + timedelta(hours=5), direction="received"),
        email("s2", at=T + timedelta(hours=6), direction="sent"),
    ]

    kpis = relationship_kpis(interactions, NOW)

    assert kpis.average_response_hours_by_us == (2 + 1) / 2  # r1 -> s1, r2 -> s2
    assert kpis.response_rate_by_us == 1.0
    assert kpis.average_response_hours_by_them == 3  # s1 -> r2; s2 is not answered yet
    assert kpis.response_rate_by_them == 0.5


def test_several_emails_answered_by_one_reply_each_count_as_answered() -> None:
    interactions = [
        email("r1", at=T, direction="received"),
        email("r2", at=T + timedelta(hours=2), direction="received"),
        email("s1", at=T + timedelta(hours=3), direction="sent"),
    ]

    kpis = relationship_kpis(interactions, NOW)

    assert kpis.average_response_hours_by_us == (3 + 1) / 2
    assert kpis.response_rate_by_them == 0.0
    assert kpis.average_response_hours_by_them is None


def test_average_response_hours_are_rounded_to_two_decimals() -> None:
    interactions = [
        email("r1", at=T, direction="received"),
        email("s1", at=T + timedelta(minutes=20), direction="sent"),
    ]

    assert relationship_kpis(interactions, NOW).average_response_hours_by_us == 0.33


def test_emails_sent_at_the_same_instant_are_not_replies_to_each_other() -> None:
    interactions = [email("r1", at=T, direction="received"), email("s1", at=T, direction="sent")]

    kpis = relationship_kpis(interactions, NOW)

    assert (kpis.response_rate_by_us, kpis.response_rate_by_them) == (0.0, 0.0)


def test_an_email_in_another_conversation_is_not_a_reply() -> None:
    interactions = [
        email("r1", at=T, direction="received", conversation="one"),
        email("s1", at=T + timedelta(hours=1), direction="sent", conversation="two"),
    ]

    assert relationship_kpis(interactions, NOW).response_rate_by_us == 0.0


def test_emails_without_a_conversation_take_no_part_in_responses() -> None:
    interactions = [
        email("r1", at=T, direction="received", conversation=""),
        email("s1", at=T + timedelta(hours=1), direction="sent", conversation=""),
    ]

    kpis = relationship_kpis(interactions, NOW)

    assert (kpis.response_rate_by_us, kpis.response_rate_by_them) == (None, None)


def test_a_message_seen_in_two_mailboxes_is_one_message_for_responses() -> None:
    interactions = [
        email("r1", at=T, direction="received", user="alice"),
        email("r1", at=T, direction="received", user="bob"),
        email("s1", at=T + timedelta(hours=4), direction="sent"),
    ]

    kpis = relationship_kpis(interactions, NOW)

    assert (kpis.average_response_hours_by_us, kpis.response_rate_by_us) == (4, 1.0)


def test_without_emails_there_is_no_response_figure() -> None:
    kpis = relationship_kpis([meeting("e1", at=T)], NOW)

    assert kpis.average_response_hours_by_us is None
    assert kpis.average_response_hours_by_them is None
    assert (kpis.response_rate_by_us, kpis.response_rate_by_them) == (None, None)


def test_last_interaction_is_the_latest_with_its_kind_and_direction() -> None:
    interactions = [
        email("m1", at=T, direction="sent"),
        meeting("e1", at=T + timedelta(days=2), direction="received"),
        email("m2", at=T + timedelta(days=1), direction="received"),
    ]

    assert relationship_kpis(interactions, NOW).last_interaction == LastInteraction(
        T + timedelta(days=2), "meeting", "received"
    )


def test_with_nothing_there_is_no_last_interaction() -> None:
    assert relationship_kpis([], NOW).last_interaction is None


def test_the_timeline_has_52_weeks_oldest_first_ending_with_the_week_of_now() -> None:
    timeline = relationship_kpis([], NOW).timeline

    assert len(timeline) == 52
    assert timeline[-1].week_start == date(2026, 11, 23)  # the Monday before Friday 27 November
    assert timeline[0].week_start == date(2025, 12, 1)
    assert all(week.week_start.weekday() == 0 for week in timeline)
    assert all(
        later.week_start - earlier.week_start == timedelta(weeks=1)
        for earlier, later in itertools.pairwise(timeline)
    )


def test_a_week_starts_on_monday_at_midnight_utc() -> None:
    monday = datetime.fromisoformat("2026-11-23T00:00:00+00:00")
    interactions = [
        email("m1", at=monday),
        email("m2", at=monday - timedelta(seconds=1)),
        meeting("e1", at=monday + timedelta(days=3)),
    ]

    timeline = relationship_kpis(interactions, NOW).timeline

    assert (timeline[-1].emails, timeline[-1].meetings) == (1, 1)
    assert (timeline[-2].emails, timeline[-2].meetings) == (1, 0)


def test_week_start_reads_times_in_utc() -> None:
    sunday_evening_utc = datetime.fromisoformat("2026-11-22T23:30:00-01:00")  # Monday 00:30 UTC

    assert week_start(sunday_evening_utc) == date(2026, 11, 23)


def test_interactions_before_the_timeline_still_count_in_the_totals() -> None:
    before_first_week = datetime.fromisoformat("2025-11-30T12:00:00+00:00")

    kpis = relationship_kpis([email("m1", at=before_first_week)], NOW)

    assert kpis.emails_received == 1
    assert sum(week.emails for week in kpis.timeline) == 0


def test_future_meetings_and_interactions_older_than_a_year_count_in_no_figure_of_the_past_year() -> None:
    interactions = [meeting("e1", at=NOW + timedelta(days=7)), email("m1", at=NOW - timedelta(days=366))]

    kpis = relationship_kpis(interactions, NOW)

    assert replace(kpis, next_interaction=None) == relationship_kpis([], NOW)


def test_computed_at_is_now_and_accuracy_follows_the_partial_flag() -> None:
    assert relationship_kpis([], NOW).computed_at == NOW
    assert relationship_kpis([], NOW).accuracy == "complete"
    assert relationship_kpis([], NOW, partial=True).accuracy == "partial"


def test_the_json_shape_is_camel_case_with_utc_times() -> None:
    interactions = [
        email("r1", at=T, direction="received"),
        email("s1", at=T + timedelta(hours=2), direction="sent"),
    ]

    body = kpis_view(relationship_kpis(interactions, NOW, partial=True))

    assert {key: body[key] for key in body if key != "timeline"} == {
        "emailsSent": 1,
        "emailsReceived": 1,
        "meetingsSent": 0,
        "meetingsReceived": 0,
        "timeSpentByTeamMinutes": 7.5,
        "timeSpentByCustomerMinutes": 7.5,
        "averageResponseHoursByUs": 2.0,
        "averageResponseHoursByThem": None,
        "responseRateByUs": 1.0,
        "responseRateByThem": 0.0,
        "lastInteraction": {"at": "2026-11-17T11:00:00Z", "kind": "email", "direction": "sent"},
        "nextInteraction": None,
        "computedAt": "2026-11-27T09:00:00Z",
        "accuracy": "partial",
    }
    assert body["timeline"][-2] == {"weekStart": "2026-11-16", "emails": 2, "meetings": 0}


@given(histories(), st.randoms(use_true_random=False))
def test_repeating_or_reordering_interactions_never_changes_the_kpis(
    interactions: list[Interaction], rng: random.Random
) -> None:
    reprocessed = interactions + interactions
    rng.shuffle(reprocessed)

    assert relationship_kpis(reprocessed, NOW) == relationship_kpis(interactions, NOW)


@given(histories(), st.data())
def test_more_copies_of_the_same_interactions_change_nothing_but_the_teams_time(
    interactions: list[Interaction], data: st.DataObject
) -> None:
    extra_holders = data.draw(st.lists(st.sampled_from(USERS), max_size=3, unique=True))
    copies = [
        replace(interaction, user_id=user, user_role="reader" if interaction.kind == "email" else "attendee")
        for interaction in interactions
        for user in extra_holders
    ]

    before = relationship_kpis(interactions, NOW)
    after = relationship_kpis(interactions + copies, NOW)

    assert after.time_spent_by_team_minutes >= before.time_spent_by_team_minutes
    # A colleague attending a meeting ahead that the only other holder declined makes it the next one.
    if before.next_interaction is not None:
        assert after.next_interaction is not None
        assert after.next_interaction.at <= before.next_interaction.at
    unchanged = {"time_spent_by_team_minutes": 0.0, "next_interaction": None}
    assert replace(after, **unchanged) == replace(before, **unchanged)


@given(histories(users=("alice", "bob", "carol")), histories(users=(EXCLUDED,), prefix="k"))
def test_an_excluded_users_interactions_never_influence_the_kpis(
    included: list[Interaction], excluded: list[Interaction]
) -> None:
    # The excluded user's interactions share keys with the included ones, so they would merge if not dropped.
    kpis = relationship_kpis(included + excluded, NOW, excluded_users=frozenset({EXCLUDED}))

    assert kpis == relationship_kpis(included, NOW)
