"""Admin-center CloudEvents: what parses, and each way a body is refused (with the field named)."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.domain.errors import ValidationFailed
from functions.domain.events import (
    ConsentGranted,
    ConsentRevoked,
    GroupsReplaced,
    LegacyConsentImported,
    UserOptOutChanged,
    is_stale,
    parse_event,
    parse_rfc3339,
)
from tests.support import admin_center as ac

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
TENANT = str(uuid.uuid4())
USER = str(uuid.uuid4())
GROUP = str(uuid.uuid4())


def fields_of(document: dict[str, Any]) -> set[str]:
    with pytest.raises(ValidationFailed) as caught:
        parse_event(document, NOW)
    return {e.field for e in caught.value.errors}


def test_a_grant_parses_with_its_actor_and_lower_cased_groups() -> None:
    event = parse_event(ac.granted(TENANT.upper(), NOW, [GROUP.upper()]), NOW)
    assert isinstance(event.data, ConsentGranted)
    assert event.tenant_id == TENANT
    assert event.data.opted_out_group_ids == {GROUP}
    assert event.data.actor.upn == ac.ADMIN["upn"]
    assert event.time == NOW


def test_each_of_the_other_four_types_parses_into_its_own_payload() -> None:
    cases = [
        (ac.revoked(TENANT, NOW), ConsentRevoked),
        (ac.groups_replaced(TENANT, [GROUP], NOW), GroupsReplaced),
        (ac.user_changed(TENANT, USER, NOW), UserOptOutChanged),
        (ac.legacy_imported(TENANT, "who_knows_whom", NOW, granted_at=NOW - timedelta(days=900)),
         LegacyConsentImported),
    ]  # fmt: skip
    for document, payload_type in cases:
        assert isinstance(parse_event(document, NOW).data, payload_type)


def test_a_legacy_import_without_expiry_leaves_it_to_the_configured_default() -> None:
    event = parse_event(ac.legacy_imported(TENANT, "relationship_analytics", NOW, granted_at=NOW), NOW)
    assert isinstance(event.data, LegacyConsentImported)
    assert event.data.expires_at is None


def test_cloudevents_extension_attributes_are_allowed() -> None:
    document = ac.revoked(TENANT, NOW) | {"traceparent": "00-abc-def-01"}
    assert parse_event(document, NOW).type == "consent.revoked"


def test_nanosecond_times_and_offsets_are_read_as_utc() -> None:
    assert parse_rfc3339("2026-11-27T10:00:00.123456789+01:00") == datetime(
        2026, 11, 27, 9, 0, 0, 123456, tzinfo=UTC
    )


@pytest.mark.parametrize("text", ["2026-11-27", "2026-11-27T09:00:00", "yesterday", "2026-13-01T00:00:00Z"])
def test_times_without_a_zone_or_not_rfc_3339_are_refused(text: str) -> None:
    assert parse_rfc3339(text) is None


def test_missing_specversion_is_reported() -> None:
    document = ac.revoked(TENANT, NOW)
    del document["specversion"]
    assert fields_of(document) == {"specversion"}


def test_another_specversion_is_reported() -> None:
    assert fields_of(ac.revoked(TENANT, NOW) | {"specversion": "0.3"}) == {"specversion"}


def test_an_unknown_event_type_is_reported() -> None:
    assert fields_of(ac.revoked(TENANT, NOW) | {"type": "consent.paused"}) == {"type"}


def test_missing_data_is_reported() -> None:
    document = ac.revoked(TENANT, NOW)
    del document["data"]
    assert fields_of(document) == {"data"}


def test_data_that_is_not_an_object_is_reported() -> None:
    assert fields_of(ac.revoked(TENANT, NOW) | {"data": [TENANT]}) == {"data"}


def test_a_non_guid_tenant_is_reported() -> None:
    assert fields_of(ac.revoked("contoso", NOW)) == {"data.tenantId"}


def test_a_non_guid_group_is_reported_with_its_index() -> None:
    assert fields_of(ac.groups_replaced(TENANT, [GROUP, "sales-team"], NOW)) == {"data.groupIds[1]"}


def test_a_non_guid_user_is_reported() -> None:
    assert fields_of(ac.user_changed(TENANT, "alice@contoso.example", NOW)) == {"data.userId"}


def test_group_ids_that_are_not_a_list_are_reported() -> None:
    document = ac.groups_replaced(TENANT, [], NOW)
    document["data"]["groupIds"] = GROUP
    assert fields_of(document) == {"data.groupIds"}


def test_opted_out_that_is_not_a_boolean_is_reported() -> None:
    document = ac.user_changed(TENANT, USER, NOW)
    document["data"]["optedOut"] = "true"
    assert fields_of(document) == {"data.optedOut"}


def test_an_unknown_data_field_is_reported() -> None:
    document = ac.user_changed(TENANT, USER, NOW)
    document["data"]["reason"] = "asked nicely"
    assert fields_of(document) == {"data.reason"}


def test_an_unknown_envelope_attribute_is_reported() -> None:
    assert fields_of(ac.revoked(TENANT, NOW) | {"Data": {}}) == {"Data"}


def test_an_actor_without_upn_is_reported() -> None:
    document = ac.revoked(TENANT, NOW)
    document["data"]["actor"] = {"id": ac.ADMIN["id"]}
    assert fields_of(document) == {"data.actor.upn"}


def test_a_time_that_is_not_rfc_3339_is_reported() -> None:
    assert fields_of(ac.revoked(TENANT, NOW) | {"time": "27/11/2026 09:00"}) == {"time"}


def test_an_event_time_beyond_the_clock_skew_is_reported() -> None:
    assert fields_of(ac.revoked(TENANT, NOW + timedelta(minutes=6))) == {"time"}


def test_a_legacy_expiry_before_its_grant_is_reported() -> None:
    document = ac.legacy_imported(
        TENANT, "who_knows_whom", NOW, granted_at=NOW, expires_at=NOW - timedelta(days=1)
    )
    assert fields_of(document) == {"data.expiresAt"}


def test_an_unknown_legacy_feature_is_reported() -> None:
    assert fields_of(ac.legacy_imported(TENANT, "insights", NOW, granted_at=NOW)) == {"data.feature"}


def test_every_problem_of_a_body_is_reported_at_once() -> None:
    document = copy.deepcopy(ac.user_changed("t", "u", NOW))
    document["data"]["optedOut"] = 1
    del document["id"]
    assert fields_of(document) == {"id", "data.tenantId", "data.userId", "data.optedOut"}


def test_an_event_is_stale_only_when_strictly_older_than_the_last_change() -> None:
    assert is_stale(NOW, NOW - timedelta(microseconds=1))
    assert not is_stale(NOW, NOW)
    assert not is_stale(None, NOW)
