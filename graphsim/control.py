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
        return {"internetMessageId": mail.internet_message_id, "seq": mail.seq}
    if (method, path) == ("POST", "/_sim/meetings"):
        data = _json(body)
        meeting = tenant.add_meeting(
            _address(data["organizer"]),
            tuple(_address(a) for a in data["attendees"]),
            wire.instant(data["start"], "start"),
            int(data.get("minutes", 30)),
        )
        return {"iCalUId": meeting.ical_uid, "start": wire.iso(meeting.start)}
    if method == "DELETE" and (match := _MEETING.match(path)):
        tenant.cancel_meeting(match.group(1))
        return {"cancelled": match.group(1)}
    raise QueryError(404, "NotFound", f"no control route {method} {path}")


def _json(body: bytes) -> dict[str, Any]:
    data = json.loads(body or b"{}")
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def _address(text: str) -> Address:
    return Address(text.split("@", 1)[0], text)
