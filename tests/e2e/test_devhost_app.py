"""The app in the local host as a subprocess, over HTTP: what `make serve` and the other e2e tests rely on."""

from __future__ import annotations

import pytest

from tests.support.apphost import AppHost, AppHostFactory

pytestmark = pytest.mark.e2e


def test_health_answers_through_the_host(app_host: AppHost) -> None:
    response = app_host.get("/api/health")
    assert response.status_code == 200
    assert response.json()["status"] == "healthy"


def test_the_admin_api_lists_the_registered_functions_with_their_triggers(app_host: AppHost) -> None:
    listed = {f["name"]: f["trigger"] for f in app_host.functions()}
    assert listed["health"] == "httpTrigger"
    assert listed["openapi"] == "httpTrigger"


def test_the_openapi_document_round_trips_as_json(app_host: AppHost) -> None:
    response = app_host.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["openapi"] == "3.1.0"


def test_an_unknown_route_is_404_and_a_wrong_method_405(app_host: AppHost) -> None:
    assert app_host.get("/api/no-such-route").status_code == 404
    assert app_host.delete("/api/health").status_code == 405


def test_every_invocation_is_logged_like_core_tools(app_host: AppHost) -> None:
    app_host.get("/api/openapi.json")
    log = app_host.log_text()
    assert "Executing 'Functions.openapi' (Reason=" in log
    assert "Executed 'Functions.openapi' (Succeeded, Id=" in log


def test_a_host_started_with_other_settings_uses_them_and_stops_cleanly(
    app_host_factory: AppHostFactory,
) -> None:
    host = app_host_factory(settings={"AzureWebJobs.openapi.Disabled": "true"})
    assert host.get("/api/openapi.json").status_code == 404
    assert host.get("/api/health").status_code == 200
    host.stop()
    assert not host.running
    assert "Stopping the host" in host.log_text()
