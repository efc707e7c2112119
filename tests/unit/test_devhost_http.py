"""The local host's HTTP front, in-process with a small test app: routes, requests, responses, admin API."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import azure.functions as func
import httpx
import pytest

from devhost.config import HostConfig
from devhost.host import LocalHost

TENANT = "0b1e3c5a-9f7d-4c2e-8a6b-1d2f3e4a5b6c"


def build_app(fired: list[str]) -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="tenants/{tenantId:guid}/echo/{item?}", methods=["GET", "POST", "PUT"])
    def echo(req: func.HttpRequest) -> func.HttpResponse:
        body = {
            "method": req.method,
            "route": dict(req.route_params),
            "params": dict(req.params),
            "body": req.get_body().decode("utf-8"),
            "contentType": req.headers.get("content-type"),
            "custom": req.headers.get("x-custom"),
            "url": req.url,
        }
        return func.HttpResponse(json.dumps(body), mimetype="application/json")

    @app.route(route="created", methods=["POST"])
    def created(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(
            b"\x00\x01binary", status_code=201, headers={"Location": "/api/things/1"},
            mimetype="application/octet-stream",
        )  # fmt: skip

    @app.route(route="plain", methods=["GET"])
    def plain(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("plain text")

    @app.route(route="async-hello", methods=["GET"])
    async def async_hello(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(f"hello {req.params.get('name', 'world')}")

    @app.route(route="boom", methods=["GET"])
    def boom(req: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError("secret-internal-detail")

    @app.function_name("nightly")
    @app.timer_trigger(schedule="%NIGHTLY%", arg_name="timer")
    def nightly(timer: func.TimerRequest) -> None:
        fired.append("nightly")

    @app.function_name("broken_timer")
    @app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer")
    def broken_timer(timer: func.TimerRequest) -> None:
        raise ValueError("cannot run")

    return app


@pytest.fixture(scope="module")
def fired() -> list[str]:
    return []


@pytest.fixture(scope="module")
def host(fired: list[str]) -> Iterator[LocalHost]:
    with LocalHost(build_app(fired), {"NIGHTLY": "0 0 2 * * *"}, HostConfig(), port=0) as instance:
        yield instance


@pytest.fixture(scope="module")
def client(host: LocalHost) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=host.url, timeout=10) as instance:
        yield instance


def test_route_parameters_query_body_and_headers_reach_the_function(client: httpx.Client) -> None:
    response = client.post(
        f"/api/tenants/{TENANT}/echo/item-7?limit=5",
        content=b'{"a": 1}',
        headers={"Content-Type": "application/json", "X-Custom": "yes"},
    )
    assert response.status_code == 200
    assert response.json() == {
        "method": "POST",
        "route": {"tenantId": TENANT, "item": "item-7"},
        "params": {"limit": "5"},
        "body": '{"a": 1}',
        "contentType": "application/json",
        "custom": "yes",
        "url": f"{client.base_url}/api/tenants/{TENANT}/echo/item-7?limit=5",
    }


def test_routes_are_case_insensitive(client: httpx.Client) -> None:
    assert client.get(f"/API/Tenants/{TENANT}/ECHO").json()["route"] == {"tenantId": TENANT}


def test_status_headers_content_type_and_binary_bodies_come_back_unchanged(client: httpx.Client) -> None:
    response = client.post("/api/created")
    assert response.status_code == 201
    assert response.headers["location"] == "/api/things/1"
    assert response.headers["content-type"].startswith("application/octet-stream")
    assert response.content == b"\x00\x01binary"


def test_text_responses_carry_their_charset_as_the_worker_sets_it(client: httpx.Client) -> None:
    response = client.get("/api/plain")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == "plain text"


def test_async_functions_are_awaited(client: httpx.Client) -> None:
    response = client.get("/api/async-hello", params={"name": "Ada"})
    assert (response.status_code, response.text) == (200, "hello Ada")


def test_an_unknown_route_answers_404(client: httpx.Client) -> None:
    assert client.get("/api/nowhere").status_code == 404


def test_a_constraint_that_does_not_match_answers_404(client: httpx.Client) -> None:
    assert client.get("/api/tenants/not-a-guid/echo").status_code == 404


def test_a_wrong_method_answers_405_with_the_allowed_methods(client: httpx.Client) -> None:
    response = client.delete(f"/api/tenants/{TENANT}/echo")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST, PUT"


def test_a_function_that_raises_answers_500_without_the_trace(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="devhost"):
        response = client.get("/api/boom")
    assert response.status_code == 500
    assert b"secret-internal-detail" not in response.content
    assert b"Traceback" not in response.content
    failure = next(r for r in caplog.records if "Executed 'Functions.boom' (Failed" in r.getMessage())
    assert failure.exc_info is not None
    assert "secret-internal-detail" in caplog.text


def test_each_invocation_is_logged_with_function_trigger_id_outcome_and_duration(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="devhost"):
        client.get("/api/async-hello")
    executing = next(m for m in caplog.messages if m.startswith("Executing 'Functions.async_hello'"))
    executed = next(m for m in caplog.messages if m.startswith("Executed 'Functions.async_hello'"))
    invocation_id = executing.split("Id=")[1].rstrip(")")
    assert "Trigger=httpTrigger" in executing
    assert f"(Succeeded, Id={invocation_id}, Duration=" in executed
    assert executed.endswith("ms)")


def test_admin_lists_every_function_with_its_trigger(client: httpx.Client) -> None:
    listed = {f["name"]: f for f in client.get("/admin/functions").json()}
    assert {name: f["trigger"] for name, f in listed.items()} == {
        "echo": "httpTrigger",
        "created": "httpTrigger",
        "plain": "httpTrigger",
        "async_hello": "httpTrigger",
        "boom": "httpTrigger",
        "nightly": "timerTrigger",
        "broken_timer": "timerTrigger",
    }
    assert listed["nightly"]["schedule"] == "0 0 2 * * *"
    assert listed["created"]["invoke_url_template"].endswith("/api/created")


def test_admin_describes_one_function_and_404s_an_unknown_one(client: httpx.Client) -> None:
    assert client.get("/admin/functions/NIGHTLY").json()["name"] == "nightly"
    assert client.get("/admin/functions/nope").status_code == 404


def test_admin_fires_a_timer_and_can_wait_for_its_outcome(client: httpx.Client, fired: list[str]) -> None:
    before = fired.count("nightly")
    response = client.post("/admin/functions/nightly", params={"wait": "true"}, json={"input": ""})
    assert response.status_code == 200
    assert response.json()["outcome"] == "Succeeded"
    assert fired.count("nightly") == before + 1


def test_admin_firing_without_waiting_answers_202_like_core_tools(client: httpx.Client) -> None:
    response = client.post("/admin/functions/nightly", json={"input": ""})
    assert (response.status_code, response.content) == (202, b"")


def test_a_failed_admin_invocation_reports_the_error_but_not_the_trace(client: httpx.Client) -> None:
    outcome = client.post("/admin/functions/broken_timer?wait=true", json={}).json()
    assert outcome["outcome"] == "Failed"
    assert outcome["error"] == "ValueError: cannot run"
    assert "Traceback" not in json.dumps(outcome)


def test_admin_refuses_to_fire_an_http_function_or_an_unknown_one(client: httpx.Client) -> None:
    assert client.post("/admin/functions/echo", json={"input": ""}).status_code == 400
    assert client.post("/admin/functions/missing", json={"input": ""}).status_code == 404


def test_admin_reports_idle_queues_when_nothing_runs(client: httpx.Client) -> None:
    assert client.get("/admin/queues").json() == {"idle": True, "inFlightInvocations": 0, "queues": []}


def test_admin_host_status_says_running(client: httpx.Client) -> None:
    assert client.get("/admin/host/status").json()["state"] == "Running"


def test_a_custom_route_prefix_moves_the_functions(fired: list[str]) -> None:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="ping", methods=["GET"])
    def ping(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("pong")

    with (
        LocalHost(app, {}, HostConfig(route_prefix="v1"), port=0) as host,
        httpx.Client(base_url=host.url) as c,
    ):
        assert c.get("/v1/ping").text == "pong"
        assert c.get("/api/ping").status_code == 404
