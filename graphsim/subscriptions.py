"""Graph change-notification subscriptions on mailboxes' messages and events (basic notifications only).

Graph routes (Bearer token, fault injection and stats as every other Graph route; see `graphsim.server`):
  POST   /v1.0/subscriptions                    validates both URLs by handshake, then 201 + the subscription
  GET    /v1.0/subscriptions                    {"value": [...]}
  GET    /v1.0/subscriptions/{id}
  PATCH  /v1.0/subscriptions/{id}               {"expirationDateTime": ...}: renew (no new handshake)
  DELETE /v1.0/subscriptions/{id}               204
  POST   /v1.0/subscriptions/{id}/reauthorize   204

Expiry is checked against the wall clock (`datetime.now(UTC)`), not the tenant's synthetic `now`: the app
renews against real time, as it must against Graph. An expired subscription is gone (404, not listed, no
notifications). Mail and meetings added through the control API notify matching subscriptions; the
notifications never carry resource data, only the item's ID, type and ETag, as Graph's basic ones.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from graphsim import outbound, wire
from graphsim.model import Mail, Meeting
from graphsim.outbound import Delivery, Outbox, graph_time
from graphsim.tenant import Tenant
from graphsim.wire import JsonObject, QueryError

MAX_MINUTES = 10_080  # Graph's longest lifetime for Outlook messages and events
MAX_CLIENT_STATE = 128
CHANGE_TYPES = frozenset({"created", "updated", "deleted"})
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")
ROUTE = re.compile(r"^/v1\.0/subscriptions(?:/|$)", re.IGNORECASE)
_COLLECTION = re.compile(r"^/v1\.0/subscriptions$", re.IGNORECASE)
_ITEM = re.compile(r"^/v1\.0/subscriptions/([^/]+)$", re.IGNORECASE)
_REAUTHORIZE = re.compile(r"^/v1\.0/subscriptions/([^/]+)/reauthorize$", re.IGNORECASE)
_RESOURCE = re.compile(r"^/?users/([^/]+)/(messages|events)$", re.IGNORECASE)
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_ODATA_TYPE = {"messages": "#Microsoft.Graph.Message", "events": "#Microsoft.Graph.Event"}
_SEGMENT = {"messages": "Messages", "events": "Events"}
_VALIDATION_FAILED = (
    "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation "
    "request."
)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    resource: str  # as the app wrote it; `mailbox` and `collection` are what it means
    mailbox: str
    collection: str  # messages | events
    change_type: str
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expiration: datetime
    created_at: datetime
    renewals: int = 0
    reauthorizations: int = 0

    @property
    def change_types(self) -> frozenset[str]:
        return frozenset(t.strip().lower() for t in self.change_type.split(","))


@dataclass(frozen=True, slots=True)
class _Change:
    mailbox: str
    collection: str
    item_id: str


class Subscriptions:
    """The tenant's subscriptions (shared by the request threads) and the notifications they cause."""

    def __init__(self, tenant: Tenant, graph_url: str, outbox: Outbox | None = None) -> None:
        self._tenant = tenant
        self._graph_url = graph_url
        self.outbox = outbox or Outbox()
        self._lock = threading.Lock()
        self._subscriptions: dict[str, Subscription] = {}
        # Who the app is: Graph fills these in from the token; fixed per tenant so runs are comparable.
        self.application_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"graphsim:app:{tenant.tenant_id}"))
        self.creator_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"graphsim:sp:{tenant.tenant_id}"))

    # --- the registry ----------------------------------------------------------------------------------

    def create(self, body: JsonObject) -> Subscription:
        """Check the request as Graph does, then the handshake with each URL, then register it."""
        resource = _text(body, "resource")
        match = _RESOURCE.match(resource)
        if match is None:
            raise QueryError(400, "InvalidRequest", f"Resource '{resource}' is not supported.")
        change_type = _change_type(body)
        notification_url = _url(body, "notificationUrl")
        lifecycle_url = (
            _url(body, "lifecycleNotificationUrl") if body.get("lifecycleNotificationUrl") else None
        )
        expiration = _expiration(body)
        client_state = body.get("clientState")
        if client_state is not None and (
            not isinstance(client_state, str) or len(client_state) > MAX_CLIENT_STATE
        ):
            raise QueryError(
                400,
                "InvalidRequest",
                f"clientState must be a string of at most {MAX_CLIENT_STATE} characters.",
            )
        if body.get("includeResourceData") not in (None, False):
            raise QueryError(
                400,
                "InvalidRequest",
                "Only basic notifications are supported: includeResourceData must be false or absent.",
            )
        self._mailbox(match.group(1))
        # Graph validates before it creates anything: a subscription the app cannot receive never exists.
        for url in filter(None, (notification_url, lifecycle_url)):
            if not outbound.validate(url):
                raise QueryError(400, "ValidationError", _VALIDATION_FAILED)
        subscription = Subscription(
            id=str(uuid.uuid4()),
            resource=resource,
            mailbox=match.group(1).lower(),
            collection=match.group(2).lower(),
            change_type=change_type,
            notification_url=notification_url,
            lifecycle_url=lifecycle_url,
            client_state=client_state,
            expiration=expiration,
            created_at=_now(),
        )
        with self._lock:
            self._subscriptions[subscription.id] = subscription
        return subscription

    def get(self, subscription_id: str) -> Subscription:
        with self._lock:
            return self._live(subscription_id)

    def active(self) -> list[Subscription]:
        with self._lock:
            self._drop_expired()
            return sorted(self._subscriptions.values(), key=lambda s: s.created_at)

    def renew(self, subscription_id: str, body: JsonObject) -> Subscription:
        extra = {k for k in body if k != "expirationDateTime" and not k.startswith("@odata.")}
        if extra:
            raise QueryError(
                400, "InvalidRequest", f"Only expirationDateTime can be updated here, not {sorted(extra)}."
            )
        expiration = _expiration(body)
        with self._lock:
            current = self._live(subscription_id)
            renewed = replace(current, expiration=expiration, renewals=current.renewals + 1)
            self._subscriptions[renewed.id] = renewed
            return renewed

    def delete(self, subscription_id: str) -> Subscription:
        with self._lock:
            return self._subscriptions.pop(self._live(subscription_id).id)

    def reauthorize(self, subscription_id: str) -> Subscription:
        with self._lock:
            current = self._live(subscription_id)
            updated = replace(current, reauthorizations=current.reauthorizations + 1)
            self._subscriptions[updated.id] = updated
            return updated

    def close(self) -> None:
        self.outbox.close()

    def _live(self, subscription_id: str) -> Subscription:
        """Callers hold the lock."""
        self._drop_expired()
        found = self._subscriptions.get(subscription_id.lower())
        if found is None:
            raise QueryError(
                404, "ResourceNotFound", f"The object was not found. Subscription '{subscription_id}'."
            )
        return found

    def _drop_expired(self) -> None:
        """Callers hold the lock. Graph deletes a subscription once it expires; so does the simulator."""
        now = _now()
        for gone in [s.id for s in self._subscriptions.values() if s.expiration <= now]:
            del self._subscriptions[gone]

    def _mailbox(self, user_id: str) -> None:
        user = self._tenant.user(user_id)
        if user is None:
            raise QueryError(404, "ResourceNotFound", f"Resource 'users/{user_id}' does not exist.")
        if not user.mail:
            raise QueryError(
                404, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive or on-premise."
            )

    # --- notifications ---------------------------------------------------------------------------------

    def notify_mail(self, mail: Mail) -> int:
        """A mail was delivered: notify `created` to the subscriptions of every mailbox holding a copy.
        Returns how many notifications were scheduled."""
        copies = self._tenant.copies_of_mail(mail)
        return self._notify("created", [_Change(c.mailbox_user_id, "messages", c.graph_id) for c in copies])

    def notify_meeting(self, meeting: Meeting, change: str = "created") -> int:
        copies = self._tenant.copies_of_meeting(meeting)
        return self._notify(change, [_Change(c.mailbox_user_id, "events", c.graph_id) for c in copies])

    def lifecycle(self, subscription_id: str, event: str) -> Delivery:
        """Send a lifecycle event now; `subscriptionRemoved` deletes the subscription first, as Graph has
        already dropped it by the time it tells the app."""
        with self._lock:
            subscription = self._live(subscription_id)
            if event not in LIFECYCLE_EVENTS:
                raise QueryError(
                    400, "InvalidRequest", f"lifecycle event must be one of {list(LIFECYCLE_EVENTS)}"
                )
            if subscription.lifecycle_url is None:
                raise QueryError(400, "InvalidRequest", "The subscription has no lifecycleNotificationUrl.")
            if event == "subscriptionRemoved":
                del self._subscriptions[subscription.id]
        payload = {
            "value": [
                {
                    "subscriptionId": subscription.id,
                    "subscriptionExpirationDateTime": graph_time(subscription.expiration),
                    "tenantId": self._tenant.tenant_id,
                    "clientState": subscription.client_state,
                    "lifecycleEvent": event,
                }
            ]
        }
        return self.outbox.send_now(subscription.id, "lifecycle", subscription.lifecycle_url, payload)

    def _notify(self, change: str, changes: Iterable[_Change]) -> int:
        subscriptions = self.active()
        scheduled = 0
        for item in changes:
            for s in subscriptions:
                if (s.mailbox, s.collection) != (
                    item.mailbox,
                    item.collection,
                ) or change not in s.change_types:
                    continue
                payload = {"value": [self._notification(s, change, item)]}
                if self.outbox.send(s.id, s.notification_url, payload):
                    scheduled += 1
        return scheduled

    def _notification(self, s: Subscription, change: str, item: _Change) -> JsonObject:
        resource = f"Users/{item.mailbox}/{_SEGMENT[item.collection]}/{item.item_id}"
        return {
            "subscriptionId": s.id,
            "subscriptionExpirationDateTime": graph_time(s.expiration),
            "changeType": change,
            "resource": resource,
            "resourceData": {
                "@odata.type": _ODATA_TYPE[item.collection],
                "@odata.id": resource,
                "@odata.etag": wire.etag(item.item_id),
                "id": item.item_id,
            },
            "clientState": s.client_state,
            "tenantId": self._tenant.tenant_id,
        }

    # --- wire shapes -----------------------------------------------------------------------------------

    def graph_json(self, s: Subscription) -> JsonObject:
        return {
            "id": s.id,
            "resource": s.resource,
            "applicationId": self.application_id,
            "changeType": s.change_type,
            "clientState": s.client_state,
            "notificationUrl": s.notification_url,
            "notificationQueryOptions": None,
            "lifecycleNotificationUrl": s.lifecycle_url,
            "expirationDateTime": graph_time(s.expiration),
            "creatorId": self.creator_id,
            "includeResourceData": False,
            "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationUrlAppId": None,
        }

    @staticmethod
    def control_json(s: Subscription) -> JsonObject:
        return {
            "id": s.id,
            "resource": s.resource,
            "changeType": s.change_type,
            "clientState": s.client_state,
            "expirationDateTime": graph_time(s.expiration),
            "notificationUrl": s.notification_url,
            "lifecycleNotificationUrl": s.lifecycle_url,
            "createdAt": graph_time(s.created_at),
            "renewals": s.renewals,
            "reauthorizations": s.reauthorizations,
        }

    def route(self, method: str, path: str, body: bytes) -> tuple[int, JsonObject | None]:
        """Answer a Graph request under /v1.0/subscriptions; raises `QueryError` for Graph's errors."""
        context = f"{self._graph_url}/$metadata#subscriptions"
        if _COLLECTION.match(path):
            if method == "POST":
                return 201, {
                    "@odata.context": f"{context}/$entity",
                    **self.graph_json(self.create(_json(body))),
                }
            if method == "GET":
                return 200, {"@odata.context": context, "value": [self.graph_json(s) for s in self.active()]}
        elif match := _REAUTHORIZE.match(path):
            if method == "POST":
                self.reauthorize(match.group(1))
                return 204, None
        elif match := _ITEM.match(path):
            if method == "GET":
                return 200, {
                    "@odata.context": f"{context}/$entity",
                    **self.graph_json(self.get(match.group(1))),
                }
            if method == "PATCH":
                renewed = self.renew(match.group(1), _json(body))
                return 200, {"@odata.context": f"{context}/$entity", **self.graph_json(renewed)}
            if method == "DELETE":
                self.delete(match.group(1))
                return 204, None
        else:
            raise QueryError(400, "BadRequest", f"Resource not found for the segment '{path}'.")
        raise QueryError(405, "Request_BadRequest", f"{method} is not supported on {path}.")


def _json(body: bytes) -> JsonObject:
    try:
        data: Any = json.loads(body or b"{}")
    except ValueError:
        raise QueryError(400, "BadRequest", "Unable to read JSON request payload.") from None
    if not isinstance(data, dict):
        raise QueryError(400, "BadRequest", "The request payload must be a JSON object.")
    return data


def _text(body: JsonObject, name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise QueryError(400, "InvalidRequest", f"'{name}' is required.")
    return value.strip()


def _change_type(body: JsonObject) -> str:
    raw = _text(body, "changeType")
    kinds = [t.strip().lower() for t in raw.split(",")]
    if not all(k in CHANGE_TYPES for k in kinds):
        raise QueryError(
            400, "InvalidRequest", f"changeType '{raw}' is invalid; use created, updated and/or deleted."
        )
    return raw


def _url(body: JsonObject, name: str) -> str:
    """An absolute http(s) URL; plain http only on loopback (Graph itself requires https)."""
    url = _text(body, name)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise QueryError(400, "InvalidRequest", f"{name} must be an absolute https URL.")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        raise QueryError(400, "InvalidRequest", f"{name} must use https (http is accepted on loopback only).")
    return url


def _expiration(body: JsonObject) -> datetime:
    raw = _text(body, "expirationDateTime")
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise QueryError(400, "InvalidRequest", f"expirationDateTime '{raw}' is not a valid date.") from None
    at = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    now = _now()
    if at <= now:
        raise QueryError(400, "InvalidRequest", "Subscription expiration must be in the future.")
    if at > now + timedelta(minutes=MAX_MINUTES):
        raise QueryError(
            400, "InvalidRequest", f"Subscription expiration can only be {MAX_MINUTES} minutes in the future."
        )
    return at
