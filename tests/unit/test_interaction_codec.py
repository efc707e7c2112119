"""An interaction's two stored forms (a table entity, a backup line) read back exactly what was written, and
anything that is not an interaction is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.adapters import interaction_codec
from functions.domain.interactions import DIRECTIONS, KINDS, ROLES, Interaction

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@st.composite
def interactions(draw: st.DrawFn) -> Interaction:
    zone = draw(
        st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))])
    )
    # Hypothesis takes naive bounds and attaches the zone itself.
    start, end = datetime(2020, 1, 1), datetime(2030, 1, 1)  # noqa: DTZ001
    at = draw(st.datetimes(min_value=start, max_value=end, timezones=st.just(zone)))
    return Interaction(
        key=draw(text), kind=draw(st.sampled_from(sorted(KINDS))), user_id=draw(text), contact=draw(text),
        at=at,
        direction=draw(st.sampled_from(sorted(DIRECTIONS))), user_role=draw(st.sampled_from(sorted(ROLES))),
        contact_role=draw(st.sampled_from(sorted(ROLES))), conversation=draw(text),
        minutes=draw(st.floats(min_value=0, max_value=24 * 60, allow_nan=False)), account=draw(text),
    )  # type: ignore[arg-type]  # fmt: skip


@given(interactions())
def test_an_interaction_survives_the_table_entity(interaction: Interaction) -> None:
    entity = interaction_codec.to_entity(interaction, "partition", "row", "run-1")
    assert interaction_codec.from_entity(entity) == interaction
    assert (entity["PartitionKey"], entity["RowKey"], entity["run"]) == ("partition", "row", "run-1")


@given(interactions())
def test_an_interaction_survives_the_backup_line(interaction: Interaction) -> None:
    line = interaction_codec.to_line(interaction)
    assert line.endswith(b"\n")
    assert interaction_codec.from_line(line) == interaction


@given(interactions())
def test_the_two_forms_carry_the_same_wire_names(interaction: Interaction) -> None:
    entity = interaction_codec.to_entity(interaction, "p", "r", "run")
    assert set(json.loads(interaction_codec.to_line(interaction))) == set(entity) - {
        "PartitionKey",
        "RowKey",
        "run",
    }


def test_a_row_or_line_written_before_accounts_were_kept_reads_with_no_account() -> None:
    entity = an_entity()
    del entity["account"]
    assert interaction_codec.from_entity(entity).account == ""
    line = json.loads(interaction_codec.to_line(interaction_codec.from_entity(an_entity())))
    del line["account"]
    assert interaction_codec.from_line(json.dumps(line)).account == ""


def an_entity() -> dict[str, object]:
    interaction = Interaction(
        key="k", kind="meeting", user_id="u", contact="c", at=datetime(2026, 11, 20, 14, 30, tzinfo=UTC),
        direction="sent", user_role="organizer", contact_role="attendee", conversation="", minutes=45.0,
    )  # fmt: skip
    return interaction_codec.to_entity(interaction, "p", "r", "run")


@pytest.mark.parametrize(
    "damage",
    [
        {"kind": "call"},
        {"direction": "sideways"},
        {"userRole": "boss"},
        {"at": "2026-11-20T14:30:00Z"},
        {"at": datetime(2026, 11, 20)},  # noqa: DTZ001 - a naive time is what is being refused
        {"minutes": "45"},
        {"key": 7},
    ],
    ids=["unknown-kind", "unknown-direction", "unknown-role", "time-as-text", "naive-time", "minutes-as-text",
         "key-not-text"],
)  # fmt: skip
def test_an_entity_that_is_not_an_interaction_is_refused(damage: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="interaction record"):
        interaction_codec.from_entity(an_entity() | damage)


def test_an_entity_missing_a_field_is_refused_naming_it() -> None:
    entity = an_entity()
    del entity["contact"]
    with pytest.raises(ValueError, match="contact"):
        interaction_codec.from_entity(entity)


@pytest.mark.parametrize(
    "line",
    [b"not json", b"[1, 2]", b'{"at": "yesterday"}', b'{"key": "k"}'],
    ids=["not-json", "not-an-object", "time-not-iso", "fields-missing"],
)
def test_a_backup_line_that_is_not_an_interaction_is_refused(line: bytes) -> None:
    with pytest.raises(ValueError, match=r"backup line|interaction record"):
        interaction_codec.from_line(line)
