"""Reading and validating a bulk import file: every bad row is reported with its line, in every format."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from functions.domain.legacy import (
    ImportFileInvalid,
    RowProblem,
    format_of,
    read_rows,
    validate_rows,
)
from tests.support.memory_stores import LEGACY_EXPIRY

NOW = datetime(2022, 6, 1, 9, 0, tzinfo=UTC)
TENANT, OTHER = str(uuid.uuid4()), str(uuid.uuid4())
G1, G2 = str(uuid.uuid4()), str(uuid.uuid4())
HEADER = "tenantId,feature,grantedAt,expiresAt,optedOutGroupIds"


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def problems_of(text: str, file_format: str = "csv") -> list[RowProblem]:
    raw = read_rows(text, file_format)  # type: ignore[arg-type]
    return validate_rows(raw, LEGACY_EXPIRY, NOW)[1]


def where(problems: list[RowProblem]) -> list[tuple[int, str | None]]:
    return [(p.line, p.field) for p in problems]


def test_a_valid_csv_row_reads_as_a_legacy_record() -> None:
    text = csv_text(
        f"{TENANT.upper()},relationship_analytics,2021-03-01T10:00:00Z,2022-08-31T00:00:00+02:00,{G1};{G2}"
    )
    [row], problems = validate_rows(read_rows(text, "csv"), LEGACY_EXPIRY, NOW)
    assert problems == []
    assert (row.line, row.tenant_id, row.feature, row.opted_out_group_ids) == (
        2,
        TENANT,
        "relationship_analytics",
        {G1, G2},
    )
    assert row.expires_at == datetime(2022, 8, 30, 22, 0, tzinfo=UTC)


def test_a_row_without_an_expiry_takes_the_feature_default() -> None:
    text = csv_text(f"{TENANT},who_knows_whom,2021-03-01T10:00:00Z,,")
    [row], _ = validate_rows(read_rows(text, "csv"), LEGACY_EXPIRY, NOW)
    assert (row.expires_at, row.explicit_expiry, row.opted_out_group_ids) == (
        LEGACY_EXPIRY["who_knows_whom"],
        False,
        frozenset(),
    )


def test_the_optional_columns_may_be_left_out_of_a_csv_header() -> None:
    text = csv_text(f"{TENANT},who_knows_whom,2021-03-01T10:00:00Z", header="tenantId,feature,grantedAt")
    assert problems_of(text) == []


def test_an_unknown_feature_name_is_reported_on_its_line() -> None:
    text = csv_text(
        f"{TENANT},relationship_analytics,2021-03-01T10:00:00Z,,",
        f"{OTHER},connection_graph,2021-03-01T10:00:00Z,,",
    )
    [problem] = problems_of(text)
    assert (problem.line, problem.field) == (3, "feature")
    assert "connection_graph" in problem.message


def test_an_expiry_before_the_grant_is_reported() -> None:
    text = csv_text(f"{TENANT},relationship_analytics,2022-03-01T10:00:00Z,2022-02-01T10:00:00Z,")
    assert where(problems_of(text)) == [(2, "expiresAt")]


def test_an_expiry_equal_to_the_grant_is_reported() -> None:
    text = csv_text(f"{TENANT},relationship_analytics,2022-03-01T10:00:00Z,2022-03-01T10:00:00Z,")
    assert where(problems_of(text)) == [(2, "expiresAt")]


def test_a_grant_after_the_default_expiry_is_reported_as_an_expiry_before_the_grant() -> None:
    late = datetime(2022, 8, 1, tzinfo=UTC)  # after who knows whom's default expiry (2022-07-30)
    raw = read_rows(csv_text(f"{TENANT},who_knows_whom,2022-07-31T00:00:00Z,,"), "csv")
    [problem] = validate_rows(raw, LEGACY_EXPIRY, late)[1]
    assert (problem.field, "default expiry" in problem.message) == ("grantedAt", True)


@pytest.mark.parametrize(
    "value",
    ["2022-13-01T00:00:00Z", "2022-03-01", "2022-03-01T10:00:00", "yesterday", "2022-02-30T00:00:00Z"],
)
def test_a_malformed_date_is_reported(value: str) -> None:
    text = csv_text(f"{TENANT},relationship_analytics,{value},,")
    assert where(problems_of(text)) == [(2, "grantedAt")]


def test_a_malformed_expiry_is_reported() -> None:
    text = csv_text(f"{TENANT},relationship_analytics,2022-03-01T10:00:00Z,30/09/2022,")
    assert where(problems_of(text)) == [(2, "expiresAt")]


def test_a_grant_in_the_future_is_reported() -> None:
    text = csv_text(f"{TENANT},relationship_analytics,2022-06-02T00:00:00Z,,")
    assert where(problems_of(text)) == [(2, "grantedAt")]


def test_a_second_row_for_the_same_tenant_and_feature_is_a_duplicate_of_the_first() -> None:
    row = f"{TENANT},relationship_analytics,2021-03-01T10:00:00Z,,"
    text = csv_text(
        row, f"{OTHER},relationship_analytics,2021-03-01T10:00:00Z,,", row.replace(TENANT, TENANT.upper())
    )
    [problem] = problems_of(text)
    assert (problem.line, "line 2" in problem.message) == (4, True)


def test_a_non_guid_tenant_is_reported() -> None:
    text = csv_text("contoso.onmicrosoft.com,relationship_analytics,2021-03-01T10:00:00Z,,")
    assert where(problems_of(text)) == [(2, "tenantId")]


def test_a_non_guid_group_is_reported_by_value() -> None:
    text = csv_text(f"{TENANT},relationship_analytics,2021-03-01T10:00:00Z,,{G1};Sales-EU")
    [problem] = problems_of(text)
    assert (problem.line, problem.field, "Sales-EU" in problem.message) == (2, "optedOutGroupIds", True)


def test_a_missing_required_value_is_reported() -> None:
    text = csv_text(f"{TENANT},,2021-03-01T10:00:00Z,,")
    assert where(problems_of(text)) == [(2, "feature")]


def test_every_problem_of_every_row_is_reported_at_once() -> None:
    text = csv_text(
        f"{TENANT},relationship_analytics,2021-03-01T10:00:00Z,,",
        "not-a-guid,analytics,2021-03-01T10:00:00Z,,",
        f"{OTHER},who_knows_whom,soon,,bad-group",
    )
    assert where(problems_of(text)) == [
        (3, "tenantId"),
        (3, "feature"),
        (4, "grantedAt"),
        (4, "optedOutGroupIds"),
    ]


def test_a_csv_row_of_the_wrong_width_is_reported() -> None:
    text = csv_text(f"{TENANT},relationship_analytics,2021-03-01T10:00:00Z")
    assert where(problems_of(text)) == [(2, None)]


def test_a_csv_header_with_an_unknown_column_refuses_the_file() -> None:
    with pytest.raises(ImportFileInvalid) as refused:
        read_rows(csv_text(header=HEADER + ",comment"), "csv")
    assert where(refused.value.problems) == [(1, "comment")]


def test_a_csv_header_missing_a_required_column_refuses_the_file() -> None:
    with pytest.raises(ImportFileInvalid) as refused:
        read_rows(csv_text(header="tenantId,grantedAt"), "csv")
    assert where(refused.value.problems) == [(1, "feature")]


def test_a_file_without_records_is_refused() -> None:
    with pytest.raises(ImportFileInvalid):
        read_rows(csv_text(), "csv")


def test_csv_line_numbers_count_blank_lines_and_quoted_line_breaks() -> None:
    text = csv_text(
        f'{TENANT},relationship_analytics,2021-03-01T10:00:00Z,,"{G1};\n{G2}"',
        "",
        f"{OTHER},who_knows_whom,2021-03-01T10:00:00Z,,nope",
    )
    assert where(problems_of(text)) == [(5, "optedOutGroupIds")]


def test_json_rows_report_the_line_their_object_starts_on() -> None:
    records = [
        {"tenantId": TENANT, "feature": "relationship_analytics", "grantedAt": "2021-03-01T10:00:00Z"},
        {"tenantId": OTHER, "feature": "who_knows_whom", "grantedAt": "2021-03-01T10:00:00Z", "notes": "x"},
    ]
    text = json.dumps(records, indent=2)
    second_line = text.splitlines().index("  {", 2) + 1
    assert where(problems_of(text, "json")) == [(second_line, "notes")]


def test_json_group_ids_must_be_a_list_of_guids() -> None:
    records = [
        {
            "tenantId": TENANT,
            "feature": "relationship_analytics",
            "grantedAt": "2021-03-01T10:00:00Z",
            "optedOutGroupIds": [G1, 42],
        }
    ]
    assert where(problems_of(json.dumps(records), "json")) == [(1, "optedOutGroupIds")]


def test_malformed_json_refuses_the_file_naming_the_line() -> None:
    text = '[\n  {"tenantId": "x"},\n  {"tenantId": \n]'
    with pytest.raises(ImportFileInvalid) as refused:
        read_rows(text, "json")
    assert refused.value.problems[0].line == 4


def test_a_json_file_that_is_not_an_array_is_refused() -> None:
    with pytest.raises(ImportFileInvalid):
        read_rows('{"tenantId": "x"}', "json")


def test_json_lines_report_their_own_line_numbers() -> None:
    good = json.dumps({"tenantId": TENANT, "feature": "who_knows_whom", "grantedAt": "2021-03-01T10:00:00Z"})
    text = f"{good}\n\n[1, 2]\n"
    assert where(problems_of(text, "jsonl")) == [(3, None)]


def test_the_format_follows_the_file_name() -> None:
    names = ["a.CSV", "a.json", "a.jsonl", "a.ndjson", "a.txt"]
    assert [format_of(name) for name in names] == ["csv", "json", "jsonl", "jsonl", None]


def test_the_same_content_always_gets_the_same_import_id_and_other_content_another() -> None:
    row = f"{TENANT},relationship_analytics,2021-03-01T10:00:00Z,,{G1}"
    ids = [
        validate_rows(read_rows(csv_text(text), "csv"), LEGACY_EXPIRY, NOW)[0][0].import_id
        for text in (row, row.replace(TENANT, TENANT.upper()), row + f";{G2}")
    ]
    assert ids[0] == ids[1] != ids[2]
