"""The Graph simulator over HTTP: Graph's wire format, errors, paging, delta, faults and the control API."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from devhost.azurite import free_port
from graphsim.generate import TenantSpec
from graphsim.server import GraphSimulator
from graphsim.tenant import Tenant

pytestmark = pytest.mark.integration

TOKEN = "t0ken"
FAR = timedelta(days=3650)
SPEC = TenantSpec(
    seed=5, users=6, external_contacts=40, messages_per_user_per_month=12, users_without_mailbox=1
)


@pytest.fixture
def sim() -> Iterator[GraphSimulator]:
    with GraphSimulator(Tenant(SPEC), token="t0ken") as running:
        yield running


def call(
    url: str,
    *,
    token: str | None = TOKEN,
    method: str = "GET",
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method, headers=dict(headers or {}))  # noqa: S310  (loopback)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    data = json.dumps(body).encode() if body is not None else None
    try:
        with urllib.request.urlopen(request, data=data, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def get_json(url: str, **kwargs: Any) -> Any:
    status, _, raw = call(url, **kwargs)
    assert status == 200, raw
    return json.loads(raw)


def mailbox_user(sim: GraphSimulator) -> str:
    return next(u.id for u in sim.tenant.users() if u.mail)


def test_requests_without_the_bearer_token_get_401() -> None:
    with GraphSimulator(Tenant(SPEC), token="t0ken") as sim:
        assert call(f"{sim.graph_url}/users", token=None)[0] == 401
        status, _, raw = call(f"{sim.graph_url}/users", token="wrong")
    assert status == 401
    assert json.loads(raw)["error"]["code"] == "InvalidAuthenticationToken"


def test_users_are_paged_with_absolute_next_links_and_honour_select(sim: GraphSimulator) -> None:
    first = get_json(f"{sim.graph_url}/users?$top=4&$select=id,mail")
    assert len(first["value"]) == 4
    assert set(first["value"][0]) <= {"@odata.type", "id", "mail"}
    assert first["@odata.nextLink"].startswith(sim.graph_url + "/users?")
    second = get_json(first["@odata.nextLink"])
    assert "@odata.nextLink" not in second
    ids = [u["id"] for u in first["value"] + second["value"]]
    assert ids == [u.id for u in sim.tenant.users()]


def test_messages_are_paged_newest_first_by_default_and_select_drops_content(sim: GraphSimulator) -> None:
    user = mailbox_user(sim)
    body = get_json(f"{sim.graph_url}/users/{user}/messages?$top=5&$select=id,receivedDateTime,from")
    received = [m["receivedDateTime"] for m in body["value"]]
    assert received == sorted(received, reverse=True)
    assert all(set(m) <= {"@odata.etag", "id", "receivedDateTime", "from"} for m in body["value"])
    assert "$skiptoken=" in body["@odata.nextLink"]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_following_next_links_yields_every_message_once_in_order(sim: GraphSimulator, order: str) -> None:
    user = mailbox_user(sim)
    url = f"{sim.graph_url}/users/{user}/messages?$top=7&$select=id&$orderby=receivedDateTime%20{order}"
    ids: list[str] = []
    while url:
        body = get_json(url)
        ids += [m["id"] for m in body["value"]]
        url = body.get("@odata.nextLink")
    spec = sim.tenant.spec
    everything = sim.tenant.mail_copies(user, spec.start - FAR, spec.now + FAR, descending=order == "desc")
    assert ids == [c.graph_id for c in everything]


def test_without_select_messages_carry_subject_and_body_so_select_matters(sim: GraphSimulator) -> None:
    message = get_json(f"{sim.graph_url}/users/{mailbox_user(sim)}/messages?$top=1")["value"][0]
    assert {"subject", "body", "bodyPreview"} <= set(message)


def test_the_received_filter_bounds_the_listing(sim: GraphSimulator) -> None:
    user = mailbox_user(sim)
    filt = "receivedDateTime ge 2026-06-01T00:00:00Z and receivedDateTime lt 2026-07-01T00:00:00Z"
    url = f"{sim.graph_url}/users/{user}/messages?$top=1000&$orderby=receivedDateTime asc&$filter={filt}"
    values = get_json(url.replace(" ", "%20"))["value"]
    assert values
    assert all("2026-06-01" <= m["receivedDateTime"] < "2026-07-01" for m in values)


@pytest.mark.parametrize("top", ["0", "1001"])
def test_top_out_of_range_is_400_with_a_graph_error_body(sim: GraphSimulator, top: str) -> None:
    status, _, raw = call(f"{sim.graph_url}/users/{mailbox_user(sim)}/messages?$top={top}")
    assert status == 400
    assert set(json.loads(raw)["error"]) >= {"code", "message"}


def test_an_unknown_user_is_404(sim: GraphSimulator) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    status, _, raw = call(f"{sim.graph_url}/users/{unknown}/messages")
    assert (status, json.loads(raw)["error"]["code"]) == (404, "ErrorItemNotFound")
    status, _, raw = call(f"{sim.graph_url}/users/{unknown}")
    assert (status, json.loads(raw)["error"]["code"]) == (404, "Request_ResourceNotFound")


def test_a_user_without_a_mailbox_has_no_messages(sim: GraphSimulator) -> None:
    mailless = next(u.id for u in sim.tenant.users() if not u.mail)
    status, _, raw = call(f"{sim.graph_url}/users/{mailless}/messages")
    assert (status, json.loads(raw)["error"]["code"]) == (404, "MailboxNotEnabledForRESTAPI")


def test_calendar_view_needs_its_window_and_returns_overlapping_events(sim: GraphSimulator) -> None:
    user = mailbox_user(sim)
    assert call(f"{sim.graph_url}/users/{user}/calendarView")[0] == 400
    url = (
        f"{sim.graph_url}/users/{user}/calendarView?startDateTime=2025-11-01T00:00:00Z"
        "&endDateTime=2026-12-01T00:00:00Z&$top=1000"
    )
    events = get_json(url)["value"]
    assert events
    assert all(e["start"]["timeZone"] == "UTC" and e["iCalUId"] for e in events)


def test_delta_pages_end_in_a_delta_link_that_later_reports_only_new_mail(sim: GraphSimulator) -> None:
    user = next(u for u in sim.tenant.users() if u.mail)
    url = f"{sim.graph_url}/users/{user.id}/mailFolders/inbox/messages/delta()?$select=id,internetMessageId"
    seen, body = 0, get_json(url, headers={"Prefer": "odata.maxpagesize=50"})
    while "@odata.nextLink" in body:
        seen += len(body["value"])
        body = get_json(body["@odata.nextLink"], headers={"Prefer": "odata.maxpagesize=50"})
    seen += len(body["value"])
    assert seen > 50
    delta_link = body["@odata.deltaLink"]
    assert get_json(delta_link)["value"] == []
    status, _, raw = call(
        f"{sim.url}/_sim/mail",
        method="POST",
        body={"from": "pat@fabrikam.com", "to": [user.mail]},
        token=None,
    )
    assert status == 200
    changes = get_json(delta_link)
    assert [m["internetMessageId"] for m in changes["value"]] == [json.loads(raw)["internetMessageId"]]
    assert set(changes["value"][0]) <= {"@odata.etag", "id", "internetMessageId"}


def test_throttling_answers_429_with_retry_after_for_the_next_k_requests(sim: GraphSimulator) -> None:
    status, _, _ = call(f"{sim.url}/_sim/faults", method="POST", body={"throttle_next": 2, "retry_after": 7})
    assert status == 200
    first, second, third = (call(f"{sim.graph_url}/users") for _ in range(3))
    assert (first[0], first[1]["Retry-After"]) == (429, "7")
    assert second[0] == 429
    assert third[0] == 200


def test_a_malformed_user_gets_pages_cut_short(sim: GraphSimulator) -> None:
    user = mailbox_user(sim)
    sim.faults.update(malformed_users=[user])
    status, _, raw = call(f"{sim.graph_url}/users/{user}/messages")
    assert status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)


def test_stats_count_requests_per_mailbox(sim: GraphSimulator) -> None:
    user = mailbox_user(sim)
    for _ in range(3):
        call(f"{sim.graph_url}/users/{user}/messages?$top=1")
    stats = get_json(f"{sim.url}/_sim/stats", token=None)
    assert stats["perMailbox"] == {user: 3}
    assert stats["maxInFlight"] == {user: 1}


def test_control_api_changes_membership_and_deletes_users(sim: GraphSimulator) -> None:
    legal = sim.tenant.group_named("Legal Hold").id
    user = sim.tenant.users()[0].id
    members = get_json(f"{sim.url}/_sim/groups/{legal}/members/{user}", method="POST", body={}, token=None)
    assert user in members["members"]
    assert call(f"{sim.url}/_sim/users/{user}", method="DELETE", token=None)[0] == 200
    assert call(f"{sim.graph_url}/users/{user}")[0] == 404
    listed = get_json(f"{sim.graph_url}/groups/{legal}/transitiveMembers/graph.user")["value"]
    assert user not in [u["id"] for u in listed]


def test_runs_as_a_module_and_prints_where_it_listens() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "graphsim", "--port", str(port), "--seed", "3", "--users", "4"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert info["graphUrl"] == f"http://127.0.0.1:{port}/v1.0"
        users = get_json(f"{info['graphUrl']}/users", token="simulator-token")["value"]
        assert len(users) == 4
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
    assert process.returncode == 0
