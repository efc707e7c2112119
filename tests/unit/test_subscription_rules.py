"""Change-notification rules: which subscriptions should exist, what a notification may say, which delta round
a notification asks for, and the settings that turn notifications on."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.domain.errors import ConfigurationError, ValidationFailed
from functions.domain.ingestion import (
    INCREMENTAL,
    STALE_AFTER,
    Cursor,
    Window,
    WindowStatus,
    backfill_name,
    refresh_window,
)
from functions.domain.subscriptions import (
    RESOURCE_KINDS,
    ResourceKind,
    Subscription,
    SubscriptionPolicy,
    client_state_hash,
    client_state_matches,
    parse_change_notifications,
    parse_lifecycle_notifications,
    parse_resource,
    plan_subscriptions,
)
from functions.settings import Settings
from tests.conftest import base_env

NOW = datetime(2026, 11, 27, 9, 0, 0, tzinfo=UTC)
POLICY = SubscriptionPolicy(lifetime=timedelta(days=3), renew_before=timedelta(days=1))
TENANT = "7a1d2c3e-0000-4000-8000-000000000001"
ALICE = "a11ce000-0000-4000-8000-000000000001"
BOB = "b0b00000-0000-4000-8000-000000000002"
_ids = itertools.count()


def sub(
    user_id: str,
    kind: ResourceKind = "messages",
    *,
    expires_in: timedelta = timedelta(days=2, hours=12),
    subscription_id: str | None = None,
) -> Subscription:
    return Subscription(
        tenant_id=TENANT,
        user_id=user_id,
        kind=kind,
        subscription_id=subscription_id or f"sub-{next(_ids)}",
        client_state_sha256=client_state_hash("secret"),
        expires_at=NOW + expires_in,
        created_at=NOW - timedelta(hours=1),
    )


def both(user_id: str, **options: Any) -> list[Subscription]:
    return [sub(user_id, kind, **options) for kind in RESOURCE_KINDS]


def plan(wanted: list[str], existing: list[Subscription], live_ids: frozenset[str] | None = None) -> Any:
    return plan_subscriptions(wanted, existing, live_ids, NOW, POLICY)


# --- the policy ---------------------------------------------------------------------------------------------


def test_a_policy_renews_within_the_lifetime_only() -> None:
    with pytest.raises(ValueError, match="renewed within its lifetime"):
        SubscriptionPolicy(lifetime=timedelta(days=1), renew_before=timedelta(days=2))
    with pytest.raises(ValueError, match="renewed within its lifetime"):
        SubscriptionPolicy(lifetime=timedelta(days=1), renew_before=timedelta(0))


def test_a_subscription_expires_one_lifetime_from_now() -> None:
    assert POLICY.expiry(NOW) == NOW + timedelta(days=3)


# --- planning -----------------------------------------------------------------------------------------------


def test_a_new_wanted_user_gets_a_subscription_of_each_kind() -> None:
    result = plan([ALICE], [])
    assert result.create == ((ALICE, "messages"), (ALICE, "events"))
    assert (result.renew, result.delete) == ((), ())


def test_a_wanted_user_is_planned_in_lower_case() -> None:
    assert plan([ALICE.upper()], []).create == ((ALICE, "messages"), (ALICE, "events"))


def test_nothing_is_planned_for_nobody_wanted_and_nothing_held() -> None:
    assert plan([], []).empty


def test_a_user_with_fresh_subscriptions_of_both_kinds_needs_nothing() -> None:
    assert plan([ALICE], both(ALICE)).empty


def test_the_subscriptions_of_a_user_no_longer_wanted_are_deleted() -> None:
    kept, gone = both(ALICE), both(BOB)
    result = plan([ALICE], kept + gone)
    assert set(result.delete) == set(gone)
    assert (result.create, result.renew) == ((), ())


def test_with_nobody_wanted_every_subscription_is_deleted() -> None:
    held = both(ALICE) + both(BOB)
    result = plan([], held)
    assert set(result.delete) == set(held)
    assert result.create == ()


def test_a_subscription_is_renewed_only_once_within_renew_before_of_its_expiry() -> None:
    due = sub(ALICE, "messages", expires_in=POLICY.renew_before - timedelta(minutes=1))
    not_yet = sub(ALICE, "events", expires_in=POLICY.renew_before + timedelta(minutes=1))
    result = plan([ALICE], [due, not_yet])
    assert result.renew == (due,)
    assert (result.create, result.delete) == ((), ())


def test_a_subscription_graph_no_longer_lists_is_deleted_and_made_again() -> None:
    listed, lost = both(ALICE)
    result = plan([ALICE], [listed, lost], live_ids=frozenset({listed.subscription_id}))
    assert result.delete == (lost,)
    assert result.create == ((ALICE, lost.kind),)
    assert result.renew == ()


def test_without_graphs_listing_a_stored_subscription_is_believed() -> None:
    assert plan([ALICE], both(ALICE), live_ids=None).empty


def test_an_expired_subscription_is_deleted_and_made_again() -> None:
    fresh = sub(ALICE, "messages")
    expired = sub(ALICE, "events", expires_in=timedelta(0))
    result = plan([ALICE], [fresh, expired])
    assert result.delete == (expired,)
    assert result.create == ((ALICE, "events"),)
    assert result.renew == ()


def test_of_two_subscriptions_of_one_user_and_kind_the_one_expiring_last_is_kept() -> None:
    earlier = sub(ALICE, "messages", expires_in=timedelta(days=2))
    later = sub(ALICE, "messages", expires_in=timedelta(days=2, hours=6))
    events = sub(ALICE, "events")
    result = plan([ALICE], [earlier, later, events])
    assert result.delete == (earlier,)
    assert (result.create, result.renew) == ((), ())


user_ids = st.sampled_from([ALICE, BOB, "c0ffee00-0000-4000-8000-000000000003", "d00d0000-0000-4000-8000-04"])


@st.composite
def held_subscriptions(draw: st.DrawFn) -> Subscription:
    return sub(
        draw(user_ids),
        draw(st.sampled_from(RESOURCE_KINDS)),
        expires_in=timedelta(minutes=draw(st.integers(-2 * 24 * 60, 3 * 24 * 60))),
    )


@st.composite
def situations(draw: st.DrawFn) -> tuple[list[str], list[Subscription], frozenset[str] | None]:
    wanted = draw(st.lists(user_ids.map(lambda u: u.upper() if draw(st.booleans()) else u), max_size=4))
    existing = draw(st.lists(held_subscriptions(), max_size=10))
    live = draw(
        st.none() | st.sets(st.sampled_from([s.subscription_id for s in existing] or ["none"])).map(frozenset)
    )
    return wanted, existing, live


PROPERTIES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTIES
@given(situations())
def test_no_user_outside_wanted_is_ever_created_or_kept(
    situation: tuple[list[str], list[Subscription], frozenset[str] | None],
) -> None:
    wanted, existing, live = situation
    result = plan(wanted, existing, live)
    wanted_ids = {u.lower() for u in wanted}
    assert {user for user, _ in result.create} <= wanted_ids
    assert {s.user_id for s in result.renew} <= wanted_ids
    assert {s for s in existing if s.user_id not in wanted_ids} <= set(result.delete)


@PROPERTIES
@given(situations())
def test_after_the_plan_each_wanted_user_has_exactly_one_live_subscription_per_kind(
    situation: tuple[list[str], list[Subscription], frozenset[str] | None],
) -> None:
    wanted, existing, live = situation
    result = plan(wanted, existing, live)
    deleted = {s.subscription_id for s in result.delete}
    kept = [s for s in existing if s.subscription_id not in deleted]
    assert not any(s.expired(NOW) for s in kept)
    assert live is None or all(s.subscription_id in live for s in kept)
    after = Counter([(s.user_id, s.kind) for s in kept] + list(result.create))
    assert after == Counter({(u.lower(), kind): 1 for u in wanted for kind in RESOURCE_KINDS})
    assert set(result.renew) <= set(kept)
    assert all(s.expires_at - NOW < POLICY.renew_before for s in result.renew)


@PROPERTIES
@given(situations())
def test_every_subscription_is_deleted_at_most_once_and_never_both_kept_and_deleted(
    situation: tuple[list[str], list[Subscription], frozenset[str] | None],
) -> None:
    wanted, existing, live = situation
    result = plan(wanted, existing, live)
    assert len(result.delete) == len(set(result.delete))
    assert not set(result.delete) & set(result.renew)


# --- the secret ---------------------------------------------------------------------------------------------


def test_the_right_secret_matches_its_hash() -> None:
    assert client_state_matches("s3cret-state", client_state_hash("s3cret-state"))


@pytest.mark.parametrize("received", ["s3cret-statE", "s3cret-state ", "", None])
def test_a_wrong_or_missing_secret_does_not_match(received: str | None) -> None:
    assert not client_state_matches(received, client_state_hash("s3cret-state"))


def test_nothing_matches_an_empty_stored_hash() -> None:
    assert not client_state_matches("s3cret-state", "")


def test_the_hash_is_sha256_hex_and_not_the_secret() -> None:
    hashed = client_state_hash("s3cret-state")
    assert len(hashed) == 64
    assert set(hashed) <= set("0123456789abcdef")
    assert "s3cret" not in hashed


# --- resources ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (f"users/{ALICE}/messages", (ALICE, "messages")),
        (f"Users/{ALICE.upper()}/Messages/AAMkAGI2TG93AAA=", (ALICE, "messages")),
        (f"/users/{ALICE}/events", (ALICE, "events")),
        (f"  Users/{ALICE}/Events/AAMkEvent  ", (ALICE, "events")),
    ],
)
def test_a_user_resource_names_its_user_in_lower_case_and_its_kind(
    resource: str, expected: tuple[str, str]
) -> None:
    assert parse_resource(resource) == expected


@pytest.mark.parametrize(
    "resource",
    [
        "",
        "me/messages",
        f"users/{ALICE}",
        f"users/{ALICE}/contacts",
        f"users/{ALICE}/messages/one/attachments",
        f"groups/{ALICE}/events",
        "users//messages",
        "subscriptions",
    ],
)
def test_anything_else_names_no_user(resource: str) -> None:
    assert parse_resource(resource) is None


# --- notifications ------------------------------------------------------------------------------------------


def change(**overrides: Any) -> dict[str, Any]:
    item = {
        "subscriptionId": "5f3b1c2d-0000-4000-8000-0000000000aa",
        "subscriptionExpirationDateTime": "2026-11-30T09:00:00Z",
        "changeType": "created",
        "resource": f"Users/{ALICE.upper()}/Messages/AAMkAGI2TG93AAA=",
        "resourceData": {"@odata.type": "#Microsoft.Graph.Message", "id": "AAMkAGI2TG93AAA="},
        "clientState": "s3cret-state",
        "tenantId": TENANT.upper(),
    }
    item.update(overrides)
    return item


def lifecycle(**overrides: Any) -> dict[str, Any]:
    item = {
        "subscriptionId": "5f3b1c2d-0000-4000-8000-0000000000aa",
        "subscriptionExpirationDateTime": "2026-11-30T09:00:00Z",
        "tenantId": TENANT,
        "clientState": "s3cret-state",
        "lifecycleEvent": "reauthorizationRequired",
    }
    item.update(overrides)
    return item


def test_a_change_notification_in_graphs_shape_is_read() -> None:
    [note] = parse_change_notifications({"value": [change()]})
    assert note.subscription_id == "5f3b1c2d-0000-4000-8000-0000000000aa"
    assert note.tenant_id == TENANT
    assert note.client_state == "s3cret-state"
    assert note.change_type == "created"
    assert note.user_id == ALICE


def test_every_notification_of_a_post_is_read_in_order() -> None:
    body = {"value": [change(changeType="created"), change(changeType="deleted")]}
    assert [n.change_type for n in parse_change_notifications(body)] == ["created", "deleted"]


def test_an_empty_collection_is_no_notification() -> None:
    assert parse_change_notifications({"value": []}) == []


def test_a_notification_without_client_state_or_a_user_resource_is_still_read() -> None:
    item = change(resource="subscriptions/abc")
    del item["clientState"]
    [note] = parse_change_notifications({"value": [item]})
    assert (note.client_state, note.user_id) == (None, None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(None, "value", id="null"),
        pytest.param([change()], "value", id="a-list-not-an-object"),
        pytest.param("value", "value", id="text"),
        pytest.param({}, "value", id="value-missing"),
        pytest.param({"value": change()}, "value", id="value-not-a-list"),
        pytest.param({"value": ["not an object"]}, "value", id="an-item-not-an-object"),
        pytest.param(
            {"value": [change(subscriptionId=None)]}, "value[0].subscriptionId", id="no-subscription"
        ),
        pytest.param(
            {"value": [change(subscriptionId="")]}, "value[0].subscriptionId", id="empty-subscription"
        ),
        pytest.param({"value": [change(), change(tenantId=None)]}, "value[1].tenantId", id="no-tenant"),
        pytest.param({"value": [change(tenantId=7)]}, "value[0].tenantId", id="tenant-not-text"),
        pytest.param({"value": [change(clientState="x" * 129)]}, "value[0].clientState", id="long-state"),
        pytest.param({"value": [change(clientState=12)]}, "value[0].clientState", id="state-not-text"),
    ],
)
def test_a_change_notification_not_in_graphs_shape_is_refused_naming_the_field(body: Any, field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_change_notifications(body)
    assert field in {error.field for error in refused.value.errors}


def test_a_client_state_of_graphs_maximum_length_is_accepted() -> None:
    [note] = parse_change_notifications({"value": [change(clientState="x" * 128)]})
    assert note.client_state == "x" * 128


@pytest.mark.parametrize("event", ["reauthorizationRequired", "subscriptionRemoved", "missed"])
def test_each_lifecycle_event_graph_sends_is_read(event: str) -> None:
    [note] = parse_lifecycle_notifications({"value": [lifecycle(lifecycleEvent=event)]})
    assert (note.subscription_id, note.tenant_id, note.client_state, note.event) == (
        "5f3b1c2d-0000-4000-8000-0000000000aa",
        TENANT,
        "s3cret-state",
        event,
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"value": [lifecycle(lifecycleEvent="subscriptionExploded")]}, "value[0].lifecycleEvent",
                     id="unknown-event"),
        pytest.param({"value": [lifecycle(lifecycleEvent=None)]}, "value[0].lifecycleEvent", id="no-event"),
        pytest.param({"value": [lifecycle(subscriptionId=None)]}, "value[0].subscriptionId",
                     id="no-subscription"),
        pytest.param({"value": [lifecycle(tenantId="")]}, "value[0].tenantId", id="no-tenant"),
        pytest.param({"value": [lifecycle(clientState="y" * 129)]}, "value[0].clientState", id="long-state"),
        pytest.param({"nothing": []}, "value", id="value-missing"),
        pytest.param("x", "value", id="not-an-object"),
    ],
)  # fmt: skip
def test_a_lifecycle_notification_not_in_graphs_shape_is_refused_naming_the_field(
    body: Any, field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        parse_lifecycle_notifications(body)
    assert field in {error.field for error in refused.value.errors}


# --- the refresh a notification asks for --------------------------------------------------------------------


BACKFILL_END = NOW - timedelta(days=2)


def backfill(status: WindowStatus = "succeeded", index: int = 0) -> Cursor:
    return Cursor(
        tenant_id=TENANT,
        user_id=ALICE,
        window=backfill_name(index),
        start=BACKFILL_END - timedelta(days=30 * (index + 1)),
        end=BACKFILL_END - timedelta(days=30 * index),
        status=status,
        updated_at=NOW - timedelta(days=2),
    )


def incremental(status: WindowStatus, *, updated_ago: timedelta = timedelta(minutes=5)) -> Cursor:
    return Cursor(
        tenant_id=TENANT,
        user_id=ALICE,
        window=INCREMENTAL,
        start=NOW - timedelta(days=1),
        end=NOW - timedelta(hours=2),
        status=status,
        updated_at=NOW - updated_ago,
    )


def landed(*more: Cursor) -> list[Cursor]:
    """A user whose backfill has landed, with `more` cursors."""
    return [backfill(index=0), backfill(index=1), *more]


def test_no_refresh_for_a_user_without_cursors() -> None:
    assert refresh_window([], NOW) == "not-ready"


@pytest.mark.parametrize("status", ["queued", "running", "failed"])
def test_no_refresh_before_every_backfill_window_has_landed(status: WindowStatus) -> None:
    assert refresh_window([backfill(index=0), backfill(status, index=1)], NOW) == "not-ready"


def test_a_skipped_backfill_window_counts_as_landed() -> None:
    assert refresh_window([backfill(index=0), backfill("skipped", index=1)], NOW) == Window(
        INCREMENTAL, BACKFILL_END, None
    )


def test_before_any_incremental_round_the_refresh_starts_where_the_backfill_ended() -> None:
    assert refresh_window(landed(), NOW) == Window(INCREMENTAL, BACKFILL_END, None)


def test_no_refresh_while_an_incremental_round_runs() -> None:
    assert refresh_window(landed(incremental("running")), NOW) == "busy"


def test_a_round_running_for_longer_than_stale_after_is_refreshed_anyway() -> None:
    stale = incremental("running", updated_ago=STALE_AFTER + timedelta(minutes=1))
    assert refresh_window(landed(stale), NOW) == Window(INCREMENTAL, stale.start, None)


def test_after_a_succeeded_round_the_refresh_starts_where_it_ended() -> None:
    done = incremental("succeeded")
    assert refresh_window(landed(done), NOW) == Window(INCREMENTAL, NOW - timedelta(hours=2), None)


def test_after_a_failed_round_the_refresh_starts_where_it_started() -> None:
    failed = incremental("failed")
    assert refresh_window(landed(failed), NOW) == Window(INCREMENTAL, NOW - timedelta(days=1), None)


def test_the_refresh_is_always_the_open_ended_incremental_window() -> None:
    for cursors in (landed(), landed(incremental("succeeded")), landed(incremental("failed"))):
        window = refresh_window(cursors, NOW)
        assert isinstance(window, Window)
        assert (window.name, window.end) == (INCREMENTAL, None)


# --- settings -----------------------------------------------------------------------------------------------

CONNECTION = "UseDevelopmentStorage=true"


def settings_with(**overrides: str) -> Settings:
    return Settings.from_env(base_env(CONNECTION, **overrides))


def test_notifications_are_off_by_default_with_graphs_lifetimes() -> None:
    env = base_env(CONNECTION)
    del env["SUBSCRIPTION_SCHEDULE"]
    s = Settings.from_env(env)
    assert (s.graph_notifications, s.graph_notification_url) == (False, "")
    assert (s.subscription_minutes, s.subscription_renew_minutes, s.refresh_coalesce_seconds) == (
        4320,
        1440,
        10,
    )
    assert s.subscription_schedule == "0 0 */6 * * *"


def test_notifications_on_without_a_url_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="GRAPH_NOTIFICATION_URL"):
        settings_with(GRAPH_NOTIFICATIONS="on")


@pytest.mark.parametrize(
    "url", ["http://consent-insights.azurewebsites.net/api", "http://10.0.0.4/api", "ftp://127.0.0.1/api",
            "http://127.0.0.1.example.com/api", "notifications"]
)  # fmt: skip
def test_notifications_on_plain_http_off_loopback_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="GRAPH_NOTIFICATION_URL"):
        settings_with(GRAPH_NOTIFICATIONS="on", GRAPH_NOTIFICATION_URL=url)


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://consent-insights.azurewebsites.net/api/", "https://consent-insights.azurewebsites.net/api"),
        ("http://127.0.0.1:7071/api", "http://127.0.0.1:7071/api"),
        ("http://localhost:7071/api", "http://localhost:7071/api"),
        ("http://[::1]:7071/api", "http://[::1]:7071/api"),
    ],
)
def test_notifications_on_https_or_loopback_are_accepted(url: str, kept: str) -> None:
    s = settings_with(GRAPH_NOTIFICATIONS="on", GRAPH_NOTIFICATION_URL=url)
    assert (s.graph_notifications, s.graph_notification_url) == (True, kept)


def test_a_url_without_notifications_on_is_kept_but_unused() -> None:
    assert not settings_with(GRAPH_NOTIFICATION_URL="http://example.com/api").graph_notifications


@pytest.mark.parametrize("value", ["yes", "true", "ON", "1"])
def test_notifications_are_on_or_off_and_nothing_else(value: str) -> None:
    with pytest.raises(ConfigurationError, match="GRAPH_NOTIFICATIONS"):
        settings_with(GRAPH_NOTIFICATIONS=value)


def test_the_lifetimes_are_read_in_minutes_and_seconds() -> None:
    s = settings_with(
        GRAPH_SUBSCRIPTION_MINUTES="10080",
        GRAPH_SUBSCRIPTION_RENEW_MINUTES="60",
        REFRESH_COALESCE_SECONDS="0",
    )
    assert (s.subscription_minutes, s.subscription_renew_minutes, s.refresh_coalesce_seconds) == (
        10080,
        60,
        0,
    )


def test_renewing_before_more_than_the_lifetime_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="GRAPH_SUBSCRIPTION_RENEW_MINUTES"):
        settings_with(GRAPH_SUBSCRIPTION_MINUTES="60", GRAPH_SUBSCRIPTION_RENEW_MINUTES="61")


def test_renewing_before_exactly_the_lifetime_is_accepted() -> None:
    assert settings_with(GRAPH_SUBSCRIPTION_MINUTES="60", GRAPH_SUBSCRIPTION_RENEW_MINUTES="60")


def test_a_lifetime_longer_than_graph_allows_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="GRAPH_SUBSCRIPTION_MINUTES"):
        settings_with(GRAPH_SUBSCRIPTION_MINUTES="10081")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GRAPH_SUBSCRIPTION_MINUTES", "0"),
        ("GRAPH_SUBSCRIPTION_MINUTES", "three days"),
        ("GRAPH_SUBSCRIPTION_MINUTES", "4320.5"),
        ("GRAPH_SUBSCRIPTION_MINUTES", "-60"),
        ("GRAPH_SUBSCRIPTION_MINUTES", "²"),
        ("GRAPH_SUBSCRIPTION_RENEW_MINUTES", "0"),
        ("GRAPH_SUBSCRIPTION_RENEW_MINUTES", "1e3"),
        ("REFRESH_COALESCE_SECONDS", "601"),
        ("REFRESH_COALESCE_SECONDS", "ten"),
        ("REFRESH_COALESCE_SECONDS", "-1"),
        ("REFRESH_COALESCE_SECONDS", "٣"),
    ],
)
def test_a_bad_number_is_refused_naming_the_setting(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        settings_with(**{name: value})


def test_a_bad_subscription_schedule_is_refused_naming_it() -> None:
    with pytest.raises(ConfigurationError, match="SUBSCRIPTION_SCHEDULE"):
        settings_with(SUBSCRIPTION_SCHEDULE="every six hours")
