"""Graph change-notification subscriptions in the simulator: the validation handshake, Graph's request rules,
renewal and deletion, basic notifications for new mail and meetings, lifecycle events and the control API.

A loopback receiver stands in for the app's notification endpoint."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from devhost.azurite import free_port
from graphsim.generate import TenantSpec
from graphsim.model import User
from graphsim.server import GraphSimulator
from graphsim.tenant import Tenant
from tests.support.notification_receiver import Receiver

pytestmark = pytest.mark.integration

TOKEN = "t0ken"
SPEC = TenantSpec(
    seed=5,
    users=5,
    external_contacts=20,
    months=2,
    messages_per_user_per_month=3,
    meetings_per_user_per_month=1,
    users_without_mailbox=1,
)


@pytest.fixture
def sim() -> Iterator[GraphSimulator]:
    with GraphSimulator(Tenant(SPEC), token=TOKEN) as running:
        yield running


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def call(url: str, *, method: str = "GET", body: Any = None, token: str | None = TOKEN) -> tuple[int, Any]:
    request = urllib.request.Request(url, method=method)  # noqa: S310  (loopback)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, data=data, timeout=15) as response:  # noqa: S310
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        with e:
            raw = e.read()
            return e.code, json.loads(raw) if raw else None


def in_minutes(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def mailbox_users(sim: GraphSimulator) -> list[User]:
    return [u for u in sim.tenant.users() if u.mail]


def subscription_request(user: User, receiver: Receiver, **overrides: Any) -> dict[str, Any]:
    body = {
        "changeType": "created",
        "notificationUrl": receiver.url(),
        "resource": f"users/{user.id}/messages",
        "expirationDateTime": in_minutes(60),
        "clientState": "secret-client-state",
    }
    body.update(overrides)
    return body


def subscribe(sim: GraphSimulator, user: User, receiver: Receiver, **overrides: Any) -> dict[str, Any]:
    status, created = call(
        f"{sim.graph_url}/subscriptions",
        method="POST",
        body=subscription_request(user, receiver, **overrides),
    )
    assert status == 201, created
    return dict(created)


def control(sim: GraphSimulator, path: str, *, method: str = "GET", body: Any = None) -> Any:
    status, answer = call(f"{sim.url}/_sim/{path}", method=method, body=body, token=None)
    assert status == 200, answer
    return answer


def test_creating_a_subscription_validates_the_url_first_and_answers_in_graphs_shape(
    sim: GraphSimulator, receiver: Receiver
) -> None:
    user = mailbox_users(sim)[0]
    created = subscribe(sim, user, receiver, resource=f"/Users/{user.id.upper()}/messages")
    assert len(receiver.validations) == 1
    assert receiver.validations[0].content_type.startswith("text/plain")
    assert receiver.validations[0].body == b""
    assert created["@odata.context"].endswith("$metadata#subscriptions/$entity")
    assert created["resource"] == f"/Users/{user.id.upper()}/messages"
    assert created["expirationDateTime"].endswith("Z")
    assert created["includeResourceData"] is False
    assert created["latestSupportedTlsVersion"] == "v1_2"
    assert (created["clientState"], created["notificationUrl"]) == ("secret-client-state", receiver.url())
    assert {"id", "applicationId", "creatorId", "lifecycleNotificationUrl", "encryptionCertificate"} <= set(
        created
    )
    assert call(f"{sim.graph_url}/subscriptions/{created['id']}")[1]["id"] == created["id"]
    listed = call(f"{sim.graph_url}/subscriptions")[1]["value"]
    assert [s["id"] for s in listed] == [created["id"]]


def test_the_validation_token_arrives_url_encoded_and_must_be_echoed_decoded(sim: GraphSimulator) -> None:
    user = mailbox_users(sim)[0]
    with Receiver(echo=lambda token: token) as decoded:
        subscribe(sim, user, decoded)
    raw = decoded.validations[0].raw_query
    assert raw.startswith("validationToken=Validation%3A%20Testing")
    assert " " not in raw
    # Echoing what came over the wire, still encoded, is a failed handshake.
    with Receiver(echo=lambda token: quote(token, safe="")) as encoded:
        status, answer = call(
            f"{sim.graph_url}/subscriptions", method="POST", body=subscription_request(user, encoded)
        )
    assert (status, answer["error"]["code"]) == (400, "ValidationError")


def test_a_wrong_echo_fails_validation_and_creates_nothing(sim: GraphSimulator) -> None:
    with Receiver(echo=lambda _token: "not the token") as wrong:
        status, answer = call(
            f"{sim.graph_url}/subscriptions",
            method="POST",
            body=subscription_request(mailbox_users(sim)[0], wrong),
        )
    assert (status, answer["error"]["code"]) == (400, "ValidationError")
    assert "must respond with 200 OK to validation request" in answer["error"]["message"]
    assert call(f"{sim.graph_url}/subscriptions")[1]["value"] == []


def test_the_lifecycle_url_is_validated_too(sim: GraphSimulator, receiver: Receiver) -> None:
    user = mailbox_users(sim)[0]
    with Receiver(echo=lambda token: token.upper()) as wrong:
        status, answer = call(
            f"{sim.graph_url}/subscriptions",
            method="POST",
            body=subscription_request(user, receiver, lifecycleNotificationUrl=wrong.url("/lifecycle")),
        )
    assert (status, answer["error"]["code"]) == (400, "ValidationError")
    assert control(sim, "subscriptions")["value"] == []
    created = subscribe(sim, user, receiver, lifecycleNotificationUrl=receiver.url("/lifecycle"))
    assert created["lifecycleNotificationUrl"] == receiver.url("/lifecycle")
    assert [v.path for v in receiver.validations][-2:] == ["/notify", "/lifecycle"]


@pytest.mark.parametrize(
    "change",
    [
        # Minutes from when the test runs (not from collection, which may be long before).
        pytest.param({"expirationDateTime": 10_080 + 5}, id="beyond-10080-minutes"),
        pytest.param({"expirationDateTime": -1}, id="in-the-past"),
        pytest.param({"expirationDateTime": "next tuesday"}, id="not-a-date"),
        pytest.param({"includeResourceData": True}, id="resource-data"),
        pytest.param({"changeType": "created,moved"}, id="unknown-change-type"),
        pytest.param({"clientState": "x" * 129}, id="client-state-too-long"),
        pytest.param({"notificationUrl": "http://example.com/notify"}, id="plain-http-off-loopback"),
        pytest.param({"resource": "me/messages"}, id="unsupported-resource"),
    ],
)
def test_requests_graph_refuses_are_400_before_any_validation_call(
    sim: GraphSimulator, receiver: Receiver, change: dict[str, Any]
) -> None:
    change = {k: in_minutes(v) if isinstance(v, int) else v for k, v in change.items()}
    body = subscription_request(mailbox_users(sim)[0], receiver, **change)
    status, answer = call(f"{sim.graph_url}/subscriptions", method="POST", body=body)
    assert (status, answer["error"]["code"]) == (400, "InvalidRequest")
    assert receiver.validations == []


def test_the_longest_lifetime_is_accepted(sim: GraphSimulator, receiver: Receiver) -> None:
    subscribe(sim, mailbox_users(sim)[0], receiver, expirationDateTime=in_minutes(10_080 - 1))


def test_an_unknown_user_is_404(sim: GraphSimulator, receiver: Receiver) -> None:
    body = subscription_request(mailbox_users(sim)[0], receiver)
    body["resource"] = "users/00000000-0000-4000-8000-000000000000/messages"
    status, answer = call(f"{sim.graph_url}/subscriptions", method="POST", body=body)
    assert (status, answer["error"]["code"]) == (404, "ResourceNotFound")
    assert receiver.validations == []


def test_patch_renews_the_expiration(sim: GraphSimulator, receiver: Receiver) -> None:
    created = subscribe(sim, mailbox_users(sim)[0], receiver, expirationDateTime=in_minutes(30))
    later = in_minutes(4_000)
    status, renewed = call(
        f"{sim.graph_url}/subscriptions/{created['id']}", method="PATCH", body={"expirationDateTime": later}
    )
    assert status == 200
    assert renewed["expirationDateTime"][:19] == later[:19]
    assert control(sim, "subscriptions")["value"][0]["renewals"] == 1
    too_far = {"expirationDateTime": in_minutes(20_000)}
    status, answer = call(f"{sim.graph_url}/subscriptions/{created['id']}", method="PATCH", body=too_far)
    assert (status, answer["error"]["code"]) == (400, "InvalidRequest")
    unknown = f"{sim.graph_url}/subscriptions/00000000-0000-4000-8000-000000000000"
    assert call(unknown, method="PATCH", body={"expirationDateTime": later})[0] == 404


def test_a_deleted_subscription_is_404(sim: GraphSimulator, receiver: Receiver) -> None:
    created = subscribe(sim, mailbox_users(sim)[0], receiver)
    url = f"{sim.graph_url}/subscriptions/{created['id']}"
    assert call(url, method="DELETE") == (204, None)
    assert call(url)[0] == 404
    assert call(url, method="DELETE")[0] == 404


def test_reauthorize_answers_204_and_is_counted(sim: GraphSimulator, receiver: Receiver) -> None:
    created = subscribe(sim, mailbox_users(sim)[0], receiver)
    url = f"{sim.graph_url}/subscriptions/{created['id']}/reauthorize"
    assert call(url, method="POST", body={}) == (204, None)
    assert control(sim, "subscriptions")["value"][0]["reauthorizations"] == 1
    unknown = f"{sim.graph_url}/subscriptions/00000000-0000-4000-8000-000000000000/reauthorize"
    assert call(unknown, method="POST", body={})[0] == 404


def test_a_delivered_mail_notifies_only_the_subscribed_mailbox_without_resource_data(
    sim: GraphSimulator, receiver: Receiver
) -> None:
    recipient, bystander = mailbox_users(sim)[:2]
    subscription = subscribe(sim, recipient, receiver)
    subscribe(sim, bystander, receiver, clientState="bystander")
    delivered = control(sim, "mail", method="POST", body={"from": "pat@fabrikam.com", "to": [recipient.mail]})
    assert delivered["notified"] == 1
    [post] = receiver.wait_for_posts(1)
    assert post.content_type.startswith("application/json")
    [notification] = post.json()["value"]
    listed = call(f"{sim.graph_url}/users/{recipient.id}/messages?$top=50&$select=id,internetMessageId")[1]
    message_id = next(
        m["id"] for m in listed["value"] if m["internetMessageId"] == delivered["internetMessageId"]
    )
    assert notification["subscriptionId"] == subscription["id"]
    assert notification["clientState"] == "secret-client-state"
    assert notification["changeType"] == "created"
    assert notification["tenantId"] == sim.tenant.tenant_id
    assert notification["resource"] == f"Users/{recipient.id}/Messages/{message_id}"
    assert notification["resourceData"]["@odata.type"] == "#Microsoft.Graph.Message"
    assert notification["resourceData"]["id"] == message_id
    assert set(notification["resourceData"]) == {"@odata.type", "@odata.id", "@odata.etag", "id"}
    assert sim.subscriptions.outbox.wait_idle()
    assert len(receiver.posts) == 1


def test_a_meeting_notifies_the_events_subscriptions_of_its_participants(
    sim: GraphSimulator, receiver: Receiver
) -> None:
    organizer, attendee, other = mailbox_users(sim)[:3]
    on_events = subscribe(sim, attendee, receiver, resource=f"users/{attendee.id}/events")
    subscribe(sim, organizer, receiver, resource=f"users/{organizer.id}/messages")
    subscribe(sim, other, receiver, resource=f"users/{other.id}/events")
    planned = control(
        sim,
        "meetings",
        method="POST",
        body={"organizer": organizer.mail, "attendees": [attendee.mail], "start": "2026-12-01T10:00:00Z"},
    )
    assert planned["notified"] == 1
    [notification] = receiver.wait_for_posts(1)[0].json()["value"]
    assert notification["subscriptionId"] == on_events["id"]
    assert notification["resourceData"]["@odata.type"] == "#Microsoft.Graph.Event"
    assert notification["resource"].startswith(f"Users/{attendee.id}/Events/")


def test_lifecycle_events_are_posted_to_the_lifecycle_url(sim: GraphSimulator, receiver: Receiver) -> None:
    created = subscribe(sim, mailbox_users(sim)[0], receiver, lifecycleNotificationUrl=receiver.url("/life"))
    answer = control(
        sim,
        f"subscriptions/{created['id']}/lifecycle",
        method="POST",
        body={"event": "reauthorizationRequired"},
    )
    assert answer == {"status": 202}
    [post] = receiver.posts
    assert post.path == "/life"
    assert post.json()["value"] == [
        {
            "subscriptionId": created["id"],
            "subscriptionExpirationDateTime": created["expirationDateTime"],
            "tenantId": sim.tenant.tenant_id,
            "clientState": "secret-client-state",
            "lifecycleEvent": "reauthorizationRequired",
        }
    ]
    assert call(f"{sim.graph_url}/subscriptions/{created['id']}")[0] == 200


def test_subscription_removed_deletes_the_subscription(sim: GraphSimulator, receiver: Receiver) -> None:
    created = subscribe(sim, mailbox_users(sim)[0], receiver, lifecycleNotificationUrl=receiver.url("/life"))
    path = f"subscriptions/{created['id']}/lifecycle"
    assert control(sim, path, method="POST", body={"event": "subscriptionRemoved"}) == {"status": 202}
    assert receiver.posts[0].json()["value"][0]["lifecycleEvent"] == "subscriptionRemoved"
    assert call(f"{sim.graph_url}/subscriptions/{created['id']}")[0] == 404
    assert call(f"{sim.url}/_sim/{path}", method="POST", body={"event": "missed"}, token=None)[0] == 404


def test_lifecycle_needs_a_lifecycle_url_and_a_known_event(sim: GraphSimulator, receiver: Receiver) -> None:
    plain = subscribe(sim, mailbox_users(sim)[0], receiver)
    with_url = subscribe(sim, mailbox_users(sim)[1], receiver, lifecycleNotificationUrl=receiver.url("/life"))
    for sid, event in ((plain["id"], "missed"), (with_url["id"], "subscriptionExploded")):
        status, _ = call(
            f"{sim.url}/_sim/subscriptions/{sid}/lifecycle", method="POST", body={"event": event}
        )
        assert status == 400
    assert receiver.posts == []


def test_subscription_routes_require_the_bearer_token(sim: GraphSimulator, receiver: Receiver) -> None:
    body = subscription_request(mailbox_users(sim)[0], receiver)
    status, answer = call(f"{sim.graph_url}/subscriptions", method="POST", body=body, token=None)
    assert (status, answer["error"]["code"]) == (401, "InvalidAuthenticationToken")
    assert call(f"{sim.graph_url}/subscriptions", token="wrong")[0] == 401
    assert receiver.validations == []


def test_an_expired_subscription_is_gone_and_gets_no_notification(
    sim: GraphSimulator, receiver: Receiver
) -> None:
    user = mailbox_users(sim)[0]
    created = subscribe(sim, user, receiver, expirationDateTime=in_minutes(1.5 / 60))
    deadline = time.monotonic() + 3
    while call(f"{sim.graph_url}/subscriptions/{created['id']}")[0] == 200:
        assert time.monotonic() < deadline, "the subscription outlived its expiration"
        time.sleep(0.1)
    delivered = control(sim, "mail", method="POST", body={"from": "pat@fabrikam.com", "to": [user.mail]})
    assert delivered["notified"] == 0
    assert control(sim, "subscriptions")["value"] == []
    assert control(sim, "notifications")["value"] == []


def test_failed_notifications_are_retried_and_every_attempt_is_recorded(sim: GraphSimulator) -> None:
    user = mailbox_users(sim)[0]
    with Receiver(status=503) as failing:
        created = subscribe(sim, user, failing)
        control(sim, "mail", method="POST", body={"from": "pat@fabrikam.com", "to": [user.mail]})
        failing.wait_for_posts(3)
        assert sim.subscriptions.outbox.wait_idle()
    attempts = control(sim, "notifications")["value"]
    assert [(a["attempt"], a["status"], a["kind"]) for a in attempts] == [
        (1, 503, "change"),
        (2, 503, "change"),
        (3, 503, "change"),
    ]
    assert {a["subscriptionId"] for a in attempts} == {created["id"]}
    assert call(f"{sim.url}/_sim/notifications", method="DELETE", token=None)[0] == 200
    assert control(sim, "notifications")["value"] == []


def test_subscription_calls_are_counted_and_throttled_like_other_graph_calls(
    sim: GraphSimulator, receiver: Receiver
) -> None:
    control(sim, "faults", method="POST", body={"throttle_next": 1, "retry_after": 3})
    body = subscription_request(mailbox_users(sim)[0], receiver)
    status, answer = call(f"{sim.graph_url}/subscriptions", method="POST", body=body)
    assert (status, answer["error"]["code"]) == (429, "TooManyRequests")
    assert receiver.validations == []
    subscribe(sim, mailbox_users(sim)[0], receiver)
    assert control(sim, "stats")["statuses"] == {"429": 1, "201": 1}


def test_the_simulator_run_as_a_module_notifies_too(receiver: Receiver) -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "graphsim",
            "--port",
            str(port),
            "--seed",
            "3",
            "--users",
            "3",
            "--months",
            "1",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        user = call(f"{info['graphUrl']}/users", token="simulator-token")[1]["value"][0]
        request = {
            "changeType": "created",
            "notificationUrl": receiver.url(),
            "resource": f"users/{user['id']}/messages",
            "expirationDateTime": in_minutes(60),
        }
        status, created = call(
            f"{info['graphUrl']}/subscriptions", method="POST", body=request, token="simulator-token"
        )
        assert status == 201, created
        mail = {"from": "pat@fabrikam.com", "to": [user["mail"]]}
        assert call(f"{info['url']}/_sim/mail", method="POST", body=mail, token=None)[1]["notified"] == 1
        [notification] = receiver.wait_for_posts(1)[0].json()["value"]
        assert notification["subscriptionId"] == created["id"]
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
