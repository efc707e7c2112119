"""Chapter 1: the foundation. The app is up, its storage answers, its functions are registered, and its
API describes itself."""

from __future__ import annotations

from demo.framework import Context

TITLE = "the foundation: a running app, its functions and its API"


def run(ctx: Context) -> None:
    with ctx.step("Asking the app whether its storage answers (GET /api/health)"):
        response = ctx.http.get("/api/health")
        ctx.expect(response.status_code == 200, f"health answered {response.status_code}: {response.text}")
        checks = response.json()["storage"]
        ctx.say(
            f"status {response.json()['status']}: "
            + ", ".join(f"{k} {'up' if v else 'down'}" for k, v in checks.items())
        )

    with ctx.step("Listing the functions the host registered (GET /admin/functions)"):
        functions = ctx.host.functions()
        ctx.expect(bool(functions), "the host registered no functions")
        by_trigger: dict[str, list[str]] = {}
        for function in functions:
            by_trigger.setdefault(function["trigger"], []).append(function["name"])
        for trigger, names in sorted(by_trigger.items()):
            ctx.say(f"{len(names)} {_trigger_words(trigger)}: {', '.join(sorted(names))}")

    with ctx.step("Reading the API's own description (GET /api/openapi.json)"):
        response = ctx.http.get("/api/openapi.json")
        ctx.expect(response.status_code == 200, f"the OpenAPI document answered {response.status_code}")
        document = response.json()
        paths = document["paths"]
        operations = sum(1 for item in paths.values() for method in item if method != "parameters")
        ctx.say(f"OpenAPI {document['openapi']}: {len(paths)} paths, {operations} operations")
        routes = sum(len(f.get("methods") or ()) for f in functions if f["trigger"] == "httpTrigger")
        ctx.expect(
            operations == routes,
            f"the document lists {operations} operations; the HTTP functions serve {routes}",
        )


def _trigger_words(trigger: str) -> str:
    return {
        "httpTrigger": "HTTP functions",
        "timerTrigger": "timer functions",
        "queueTrigger": "queue functions",
    }.get(trigger, trigger)
