"""Route templates and request routing of the local host, as the Functions host (ASP.NET Core) does them."""

from __future__ import annotations

import pytest

from devhost.config import StartupError
from devhost.routing import MethodNotAllowed, NoRoute, RouteMatch, Router, RouteTemplate, split_path

TENANT = "0b1e3c5a-9f7d-4c2e-8a6b-1d2f3e4a5b6c"


def router(*routes: tuple[str, list[str] | None]) -> Router[str]:
    result: Router[str] = Router("api")
    for template, methods in routes:
        result.add(template, methods, template)
    return result


def matched(result: object) -> RouteMatch[str]:
    assert isinstance(result, RouteMatch), result
    return result


def test_parameters_are_captured_by_name() -> None:
    routes = router(("tenants/{tenantId}/opt-outs/users/{userId}", ["PUT"]))
    match = matched(routes.resolve("PUT", f"/api/tenants/{TENANT}/opt-outs/users/u-1"))
    assert match.params == {"tenantId": TENANT, "userId": "u-1"}


def test_literal_segments_and_the_prefix_match_case_insensitively() -> None:
    routes = router(("tenants/{tenantId}/consent", ["GET"]))
    match = matched(routes.resolve("get", f"/API/Tenants/{TENANT}/CONSENT"))
    assert match.params == {"tenantId": TENANT}


def test_parameter_values_keep_their_case_and_are_percent_decoded() -> None:
    routes = router(("files/{name}", None))
    assert matched(routes.resolve("GET", "/api/files/My%20File%2Fv2")).params == {"name": "My File/v2"}


def test_a_trailing_slash_does_not_matter() -> None:
    routes = router(("health", ["GET"]))
    assert matched(routes.resolve("GET", "/api/health/")).target == "health"


def test_a_path_outside_the_prefix_has_no_route() -> None:
    routes = router(("health", ["GET"]))
    assert isinstance(routes.resolve("GET", "/health"), NoRoute)


def test_an_unknown_path_has_no_route() -> None:
    routes = router(("health", ["GET"]))
    assert isinstance(routes.resolve("GET", "/api/wealth"), NoRoute)


def test_a_known_path_with_another_method_is_not_allowed_and_names_the_allowed_ones() -> None:
    routes = router(("tenants/{t}/consent", ["GET", "PUT"]), ("tenants/{t}/consent", ["DELETE"]))
    result = routes.resolve("POST", f"/api/tenants/{TENANT}/consent")
    assert result == MethodNotAllowed(("DELETE", "GET", "PUT"))


def test_a_route_without_methods_accepts_every_method() -> None:
    routes = router(("anything", None))
    assert all(isinstance(routes.resolve(m, "/api/anything"), RouteMatch) for m in ("GET", "PATCH", "DELETE"))


def test_a_guid_constraint_rejects_other_values() -> None:
    routes = router(("tenants/{tenantId:guid}", ["GET"]))
    assert isinstance(routes.resolve("GET", f"/api/tenants/{TENANT}"), RouteMatch)
    assert isinstance(routes.resolve("GET", "/api/tenants/not-a-guid"), NoRoute)


@pytest.mark.parametrize(
    ("template", "accepted", "rejected"),
    [
        ("{n:int}", "-42", "4.2"),
        ("{n:alpha}", "abc", "ab1"),
        ("{n:bool}", "True", "yes"),
        ("{n:int:min(1)}", "1", "0"),
        ("{n:range(1,10)}", "10", "11"),
        ("{n:minlength(3)}", "abc", "ab"),
        ("{n:length(2)}", "ab", "abc"),
    ],
)
def test_constraints_accept_and_reject_as_aspnet_does(template: str, accepted: str, rejected: str) -> None:
    parsed = RouteTemplate.parse(f"items/{template}")
    assert parsed.match(["items", accepted]) is not None
    assert parsed.match(["items", rejected]) is None


def test_an_optional_trailing_parameter_may_be_absent() -> None:
    routes = router(("tenants/{tenantId}/purges/{purgeId?}", ["GET"]))
    assert matched(routes.resolve("GET", f"/api/tenants/{TENANT}/purges")).params == {"tenantId": TENANT}
    assert matched(routes.resolve("GET", f"/api/tenants/{TENANT}/purges/p1")).params["purgeId"] == "p1"


def test_a_catch_all_takes_the_rest_of_the_path() -> None:
    routes = router(("static/{*path}", ["GET"]))
    assert matched(routes.resolve("GET", "/api/static/a/b/c.txt")).params == {"path": "a/b/c.txt"}


def test_a_literal_segment_wins_over_a_parameter_whatever_the_registration_order() -> None:
    routes = router(("tenants/{t}/purges/{purgeId}", ["GET"]), ("tenants/{t}/purges/summary", ["GET"]))
    assert matched(routes.resolve("GET", f"/api/tenants/{TENANT}/purges/summary")).target.endswith("summary")
    assert matched(routes.resolve("GET", f"/api/tenants/{TENANT}/purges/p-9")).target.endswith("{purgeId}")


def test_a_constrained_parameter_wins_over_a_plain_one() -> None:
    routes = router(("items/{name}", ["GET"]), ("items/{id:int}", ["GET"]))
    assert matched(routes.resolve("GET", "/api/items/7")).target == "items/{id:int}"
    assert matched(routes.resolve("GET", "/api/items/seven")).target == "items/{name}"


def test_an_empty_prefix_routes_from_the_root() -> None:
    routes: Router[str] = Router("")
    routes.add("health", ["GET"], "health")
    assert matched(routes.resolve("GET", "/health")).target == "health"


@pytest.mark.parametrize(
    ("template", "complaint"),
    [
        ("files/{name}.json", "whole segment"),
        ("items/{id:regex(^[0-9]+$)}", "constraint"),
        ("items/{id:unknown}", "constraint"),
        ("a/{x?}/b", "trailing"),
        ("a/{*rest}/b", "last segment"),
        ("a/{x}/{X}", "twice"),
    ],
)
def test_templates_the_local_host_cannot_route_like_azure_stop_start_up(
    template: str, complaint: str
) -> None:
    with pytest.raises(StartupError, match=complaint) as raised:
        RouteTemplate.parse(template)
    assert template in str(raised.value)


def test_split_path_decodes_each_segment_after_splitting() -> None:
    assert split_path("/api/a%2Fb/c") == ["api", "a/b", "c"]
