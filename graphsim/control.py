"""The simulator's control API, for the demo and benchmarks that run it as a subprocess.

GET    /_sim/tenant                         tenant ID, domains, users, groups (+ members), top contacts
GET    /_sim/stats                          request counts, max in flight per mailbox, statuses
POST   /_sim/stats/reset
POST   /_sim/faults        {"throttle_next": 3, "retry_after": 0, ...}   (fields of FaultSettings)
DELETE /_sim/faults
DELETE /_sim/users/{id}                     the user disappears
POST   /_sim/groups/{gid}/members/{uid}     add a user to a group; DELETE removes
POST   /_sim/mail          {"from": addr, "to": [addr], "cc": [addr], "at": iso?}   deliver a new mail
POST   /_sim/meetings      {"organizer": addr, "attendees": [addr], "start": iso, "minutes": 30}   plan one
DELETE /_sim/meetings/{iCalUId}              cancel a planned meeting (calendars keep it, marked cancelled)
    The three above notify matching subscriptions (messages: created; events: created, or updated when
    cancelled) on background threads and answer at once with "notified": deliveries scheduled.
GET    /_sim/subscriptions                  the active subscriptions (expired ones are gone):
    {"value": [{"id", "resource", "changeType", "clientState", "expirationDateTime", "notificationUrl",
                "lifecycleNotificationUrl", "createdAt", "renewals", "reauthorizations"}]}
POST   /_sim/subscriptions/{id}/lifecycle   {"event": reauthorizationRequired|subscriptionRemoved|missed}
    POSTs the lifecycle notification now and answers {"status": the app's HTTP status} ({"status": null,
    "error": ...} when it did not answer); subscriptionRemoved deletes the subscription first, as Graph does
GET    /_sim/notifications                  every delivery attempt, oldest first:
    {"value": [{"subscriptionId", "kind": "change"|"lifecycle", "url", "attempt", "status", "error", "at"}]}
DELETE /_sim/notifications                  forget them
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from graphsim import wire
from graphsim.model import Address
from graphsim.wire import JsonObject, QueryError

if TYPE_CHECKING:
    from graphsim.server import GraphSimulator

_MEMBER = re.compile(r"^/_sim/groups/([^/]+)/members/([^/]+)$")
_USER = re.compile(r"^/_sim/users/([^/]+)$")
_MEETING = re.compile(r"^/_sim/meetings/([^/]+)$")
_LIFECYCLE = re.compile(r"^/_sim/subscriptions/([^/]+)/lifecycle$")


def handle(sim: GraphSimulator, method: str, path: str, body: bytes) -> tuple[int, JsonObject]:
    try:
        return 200, _handle(sim, method, path, body)
    except (QueryError, ValueError, TypeError, KeyError) as e:
        status = e.status if isinstance(e, QueryError) else 400
        return status, {"error": {"code": "BadRequest", "message": str(e)}}


def _handle(sim: GraphSimulator, method: str, path: str, body: bytes) -> JsonObject:  # noqa: PLR0911, PLR0912  (a router: one branch and return per route)
    tenant = sim.tenant
    if (method, path) == ("GET", "/_sim/tenant"):
        return {
            "tenantId": tenant.tenant_id,
            "domains": list(tenant.verified_domains),
            "users": [{"id": u.id, "displayName": u.display_name, "mail": u.mail} for u in tenant.users()],
            "groups": [
                {"id": g.id, "displayName": g.display_name, "members": tenant.transitive_user_ids(g.id)}
                for g in tenant.groups
            ],
            "topContacts": [c.address for c in tenant.contacts[:10]],
            "now": wire.iso(tenant.spec.now),
        }
    if (method, path) == ("GET", "/_sim/stats"):
        return sim.stats.snapshot()
    if (method, path) == ("POST", "/_sim/stats/reset"):
        sim.stats.reset()
        return {}
    if path == "/_sim/faults":
        if method == "POST":
            sim.faults.update(**_json(body))
        elif method == "DELETE":
            sim.faults.clear()
        return asdict(sim.faults.settings)
    if (match := _USER.match(path)) and method == "DELETE":
        tenant.delete_user(match.group(1))
        return {}
    if match := _MEMBER.match(path):
        if method == "POST":
            tenant.add_to_group(match.group(1), match.group(2))
        elif method == "DELETE":
            tenant.remove_from_group(match.group(1), match.group(2))
        return {"members": tenant.transitive_user_ids(match.group(1))}
    if (method, path) == ("POST", "/_sim/mail"):
        data = _json(body)
        mail = tenant.add_mail(
            _address(data["from"]),
            tuple(_address(a) for a in data["to"]),
            tuple(_address(a) for a in data.get("cc", [])),
            at=wire.instant(data["at"], "at") if data.get("at") else None,
        )
        notified = sim.subscriptions.notify_mail(mail)
        return {"internetMessageId": mail.internet_message_id, "seq": mail.seq, "notified": notified}
    if (method, path) == ("POST", "/_sim/meetings"):
        data = _json(body)
        meeting = tenant.add_meeting(
            _address(data["organizer"]),
            tuple(_address(a) for a in data["attendees"]),
            wire.instant(data["start"], "start"),
            int(data.get("minutes", 30)),
        )
        notified = sim.subscriptions.notify_meeting(meeting)
        return {"iCalUId": meeting.ical_uid, "start": wire.iso(meeting.start), "notified": notified}
    if method == "DELETE" and (match := _MEETING.match(path)):
        cancelled = tenant.cancel_meeting(match.group(1))
        return {
            "cancelled": match.group(1),
            "notified": sim.subscriptions.notify_meeting(cancelled, "updated"),
        }
    answer = _subscription_routes(sim, method, path, body)
    if answer is None:
        raise QueryError(404, "NotFound", f"no control route {method} {path}")
    return answer


def _subscription_routes(sim: GraphSimulator, method: str, path: str, body: bytes) -> JsonObject | None:
    subscriptions = sim.subscriptions
    if (method, path) == ("GET", "/_sim/subscriptions"):
        return {"value": [subscriptions.control_json(s) for s in subscriptions.active()]}
    if (match := _LIFECYCLE.match(path)) and method == "POST":
        delivery = subscriptions.lifecycle(match.group(1), str(_json(body).get("event", "")))
        answer: JsonObject = {"status": delivery.status}
        if delivery.error is not None:
            answer["error"] = delivery.error
        return answer
    if path == "/_sim/notifications":
        if method == "DELETE":
            subscriptions.outbox.clear()
            return {}
        if method == "GET":
            return {"value": [d.json() for d in subscriptions.outbox.deliveries()]}
    return None


def _json(body: bytes) -> dict[str, Any]:
    data = json.loads(body or b"{}")
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def _address(text: str) -> Address:
    return Address(text.split("@", 1)[0], text)
