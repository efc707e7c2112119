"""After a deployment, prove the app answers: health, its OpenAPI document, the admin-center webhook's
signature check with the deployed secret, and token-guarded routes that refuse callers without a valid token.

    python tools/smoke.py --base-url "$(azd env get-value FUNCTION_APP_URL)" \\
        --webhook-secret "$(azd env get-value ADMIN_CENTER_WEBHOOK_SECRET)"

It changes nothing in the deployment. The webhook check signs, with the given secret, an event the app must
refuse after it has accepted the signature (400 naming the event's `type`: there is no such event), then
sends the same kind of body signed with another secret (401): the first answer proves the deployed secret is
the one given, the second that signatures are checked at all. The secret may also come from the environment
(ADMIN_CENTER_WEBHOOK_SECRET), which keeps it out of the process list; of several (rotation), the first is
used.

A Flex Consumption app scales from zero and resolves its Key Vault references on start, so the first answers
can take a while: `/api/health` is retried for up to `--wait` seconds before the other checks run.

Exit codes: 0 every check passed; 1 a check failed; 2 bad arguments.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script (`python tools/smoke.py`) from any directory
    sys.path.insert(0, str(ROOT))

from functions.adapters.signatures import SECRET_PREFIX, decode_secret, sign  # noqa: E402
from functions.domain.errors import ConfigurationError  # noqa: E402
from functions.domain.times import rfc3339  # noqa: E402

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PROBLEM_JSON = "application/problem+json"
WEBHOOK = "/api/webhooks/admin-center"
# No tenant has the nil GUID, so even a wrongly accepted request could not touch one.
GUARDED = "/api/tenants/00000000-0000-0000-0000-000000000000/consent"
SMOKE_EVENT_TYPE = "smoke.test"


@dataclass(frozen=True)
class Outcome:
    check: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"  {'ok  ' if self.ok else 'FAIL'}  {self.check}: {self.detail}"


Check = Callable[[httpx.Client], Outcome]


def health(client: httpx.Client, wait: float) -> Outcome:
    check = "GET /api/health"
    deadline = time.monotonic() + wait
    while True:
        try:
            response = client.get("/api/health")
        except httpx.HTTPError as error:
            response, detail = None, f"no answer ({type(error).__name__}: {error})"
        else:
            detail = f"{response.status_code} {response.text[:200]}"
        if response is not None and response.status_code == 200:
            body = response.json()
            reachable = [name for name, up in body.get("storage", {}).items() if up]
            healthy = body.get("status") == "healthy" and len(reachable) == len(body.get("storage", {})) > 0
            return Outcome(check, healthy, f"200 {body.get('status')} (storage: {', '.join(reachable)})")
        if time.monotonic() >= deadline:
            return Outcome(check, ok=False, detail=f"{detail} (gave up after {wait:.0f} s)")
        time.sleep(min(5.0, max(0.5, deadline - time.monotonic())))


def openapi(client: httpx.Client) -> Outcome:
    check = "GET /api/openapi.json"
    response = client.get("/api/openapi.json")
    if response.status_code != 200:
        return Outcome(check, ok=False, detail=f"{response.status_code} {response.text[:200]}")
    document = response.json()
    paths = document.get("paths", {})
    expected = {"/health", "/webhooks/admin-center", "/tenants/{tenantId}/consent"}
    missing = sorted(expected - set(paths))
    ok = str(document.get("openapi", "")).startswith("3.1") and not missing
    detail = f"OpenAPI {document.get('openapi')}, {len(paths)} paths"
    return Outcome(check, ok, detail + (f"; missing {', '.join(missing)}" if missing else ""))


def smoke_event() -> bytes:
    """A well-formed CloudEvent of a type the app does not know, so it is refused without any effect."""
    event = {
        "specversion": "1.0",
        "id": f"smoke-{uuid.uuid4()}",
        "source": "/smoke-test",
        "type": SMOKE_EVENT_TYPE,
        "time": rfc3339(datetime.now(UTC)),
        "datacontenttype": "application/json",
        "data": {},
    }
    return json.dumps(event).encode()


def post_signed(client: httpx.Client, secret: str, body: bytes) -> httpx.Response:
    message_id = f"msg_smoke_{uuid.uuid4().hex}"
    timestamp = int(time.time())
    headers = {
        "content-type": "application/cloudevents+json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }
    return client.post(WEBHOOK, content=body, headers=headers)


def signed_webhook(client: httpx.Client, secret: str) -> Outcome:
    check = f"POST {WEBHOOK} signed with the given secret"
    response = post_signed(client, secret, smoke_event())
    if response.status_code == 401:
        return Outcome(
            check, ok=False, detail="401: the deployed ADMIN_CENTER_WEBHOOK_SECRET is not the one given"
        )
    fields = _problem_fields(response)
    ok = response.status_code == 400 and "type" in fields
    detail = f"{response.status_code}: signature accepted, the smoke event refused by design (field: type)"
    return Outcome(check, ok, detail if ok else f"{response.status_code} {response.text[:300]}")


def wrongly_signed_webhook(client: httpx.Client) -> Outcome:
    check = f"POST {WEBHOOK} signed with another secret"
    other = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")
    response = post_signed(client, other, smoke_event())
    ok = response.status_code == 401 and _is_problem(response)
    return Outcome(check, ok, f"{response.status_code}" + ("" if ok else f" {response.text[:300]}"))


def guarded_route_without_token(client: httpx.Client) -> Outcome:
    check = f"GET {GUARDED} without a token"
    response = client.get(GUARDED)
    ok = response.status_code == 401 and _is_problem(response)
    return Outcome(check, ok, f"{response.status_code}" + ("" if ok else f" {response.text[:300]}"))


def guarded_route_with_a_forged_token(client: httpx.Client) -> Outcome:
    check = f"GET {GUARDED} with a token that is not Entra's"
    response = client.get(GUARDED, headers={"authorization": "Bearer eyJhbGciOiJub25lIn0.e30."})
    ok = response.status_code == 401 and _is_problem(response)
    return Outcome(check, ok, f"{response.status_code}" + ("" if ok else f" {response.text[:300]}"))


def _is_problem(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").startswith(PROBLEM_JSON)


def _problem_fields(response: httpx.Response) -> set[str]:
    if not _is_problem(response):
        return set()
    errors = response.json().get("errors") or []
    return {str(error.get("field", "")).split(".")[0].split("/")[-1] for error in errors}


def run(base_url: str, secret: str, *, wait: float, timeout: float) -> list[Outcome]:
    with httpx.Client(base_url=base_url, timeout=timeout, follow_redirects=False) as client:
        first = health(client, wait)
        if not first.ok:
            return [first]  # nothing else can pass while the app does not answer
        checks: list[Check] = [
            openapi,
            lambda c: signed_webhook(c, secret),
            wrongly_signed_webhook,
            guarded_route_without_token,
            guarded_route_with_a_forged_token,
        ]
        return [first, *(check(client) for check in checks)]


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="smoke", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base-url", required=True, help="the app's URL (FUNCTION_APP_URL), with or without /api"
    )
    parser.add_argument(
        "--webhook-secret",
        default=os.environ.get("ADMIN_CENTER_WEBHOOK_SECRET"),
        help="the deployed ADMIN_CENTER_WEBHOOK_SECRET (default: that environment variable)",
    )
    parser.add_argument(
        "--wait", type=float, default=180.0, help="seconds to wait for /api/health (cold start)"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _arguments(argv)
    except SystemExit as exit_:
        return EXIT_OK if exit_.code == 0 else EXIT_USAGE
    if not args.webhook_secret:
        print("smoke: give --webhook-secret or set ADMIN_CENTER_WEBHOOK_SECRET", file=sys.stderr)
        return EXIT_USAGE
    secret = args.webhook_secret.split()[0]
    try:
        decode_secret(secret)
    except ConfigurationError as error:
        print(f"smoke: {error}", file=sys.stderr)
        return EXIT_USAGE
    base_url = args.base_url.rstrip("/").removesuffix("/api")
    print(f"smoke {base_url}")
    outcomes = run(base_url, secret, wait=args.wait, timeout=args.timeout)
    for outcome in outcomes:
        print(outcome)
    passed = sum(outcome.ok for outcome in outcomes)
    print(f"{passed} of {len(outcomes)} checks passed")
    return EXIT_OK if passed == len(outcomes) else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
