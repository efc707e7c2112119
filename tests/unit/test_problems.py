"""The one mapping from the app's errors to RFC 9457 problem documents, and what a refusal logs."""

from __future__ import annotations

import json
import logging

import azure.functions as func
import pytest

from functions.domain import errors
from functions.entrypoints.problems import http_handler, problem_for

SDK_MESSAGE = "Connection refused: account.table.core.windows.net, RequestId:1f2e3d4c-0000"


def body(response: func.HttpResponse) -> dict[str, object]:
    parsed: dict[str, object] = json.loads(response.get_body())
    return parsed


@pytest.mark.parametrize(
    "error",
    [errors.StorageUnavailable(SDK_MESSAGE), errors.GraphError(SDK_MESSAGE)],
    ids=["storage-unavailable", "graph-failed"],
)
def test_a_failure_of_storage_or_graph_tells_the_caller_nothing_of_the_sdks_message(
    error: errors.AppError,
) -> None:
    response = problem_for(error)
    assert "windows.net" not in json.dumps(body(response))
    assert "RequestId" not in json.dumps(body(response))


def test_any_other_storage_failure_is_left_to_the_host_which_answers_500_without_a_trace() -> None:
    with pytest.raises(errors.StorageError):
        problem_for(errors.StorageError(SDK_MESSAGE))


def test_unavailable_storage_is_503_with_retry_after() -> None:
    response = problem_for(errors.StorageUnavailable(SDK_MESSAGE))
    assert (response.status_code, response.headers["Retry-After"]) == (503, "5")


def test_a_group_opt_out_being_applied_is_503_with_retry_after() -> None:
    response = problem_for(errors.MembershipPending("being resolved"))
    assert response.status_code == 503
    assert body(response)["type"] == "https://m365-consent-insights.example/problems/membership-pending"
    assert "Retry-After" in response.headers


def test_a_validation_error_keeps_its_detail_and_fields() -> None:
    error = errors.ValidationFailed("bad", [errors.FieldError("contact", "is required")])
    assert body(problem_for(error))["errors"] == [{"field": "contact", "message": "is required"}]


def test_a_refused_request_is_logged_by_function_name_never_by_url(caplog: pytest.LogCaptureFixture) -> None:
    @http_handler
    def relationships_get(req: func.HttpRequest) -> func.HttpResponse:
        raise errors.NotFound("no interactions with this contact are known")

    request = func.HttpRequest(
        "GET", "http://localhost/api/tenants/t/relationships?contact=jane%40customer.example", body=b""
    )
    with caplog.at_level(logging.INFO):
        assert relationships_get(request).status_code == 404
    assert "relationships_get -> 404 (NotFound)" in caplog.text
    assert "customer.example" not in caplog.text
    assert "contact=" not in caplog.text
