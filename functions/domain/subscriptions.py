"""Graph change-notification subscriptions: which ones should exist, when to renew them, and what a
notification may be trusted to say. Pure rules: no I/O, no clock (`now` is a parameter).

Each included user has two subscriptions, on `users/{id}/messages` and `users/{id}/events`, *basic*
notifications only (IDs, never resource data). A subscription carries a `clientState` secret of its own; the
store keeps only its SHA-256, and a notification is believed only when the secret it carries hashes to it
(compared in constant time), and only looked up when its tenant and subscription IDs are GUIDs, as Graph
sends them (`has_graph_ids`). A notification says nothing but "this user's mailbox or calendar changed": it
becomes a request to refresh that user, which goes through the same inclusion fence as every other read.

The app's rows of its subscriptions are a subject's live data: the purge deletes them first and verifies
them like any store. The subscriptions themselves it removes at Graph when Graph lets it, without ever
waiting for Graph to delete stored data (functions/services/subscription_purge.py).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from functions.domain.access import is_guid
from functions.domain.errors import FieldError, ValidationFailed

ResourceKind = Literal["messages", "events"]
RESOURCE_KINDS: tuple[ResourceKind, ...] = ("messages", "events")
LifecycleEvent = Literal["reauthorizationRequired", "subscriptionRemoved", "missed"]
LIFECYCLE_EVENTS: tuple[LifecycleEvent, ...] = ("reauthorizationRequired", "subscriptionRemoved", "missed")
CHANGE_TYPES = "created,updated,deleted"
MAX_CLIENT_STATE = 128  # Graph's limit on clientState

# "users/{id}/messages" as we create it, "Users/{id}/Messages/{messageId}" as Graph reports a change.
_RESOURCE = re.compile(r"^/?users/([^/]+)/(messages|events)(?:/[^/]+)?$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SubscriptionPolicy:
    lifetime: timedelta
    renew_before: timedelta

    def __post_init__(self) -> None:
        if not timedelta(0) < self.renew_before <= self.lifetime:
            raise ValueError("a subscription is renewed within its lifetime")

    def expiry(self, now: datetime) -> datetime:
        return now + self.lifetime


@dataclass(frozen=True, slots=True)
class Subscription:
    """One subscription as the app keeps it: Graph's ID, whose resource, and the hash of its secret."""

    tenant_id: str
    user_id: str
    kind: ResourceKind
    subscription_id: str
    client_state_sha256: str
    expires_at: datetime
    created_at: datetime
    renewed_at: datetime | None = None

    @property
    def resource(self) -> str:
        return resource_of(self.user_id, self.kind)

    def expired(self, now: datetime) -> bool:
        return self.expires_at <= now


def resource_of(user_id: str, kind: ResourceKind) -> str:
    return f"users/{user_id}/{kind}"


def parse_resource(resource: str) -> tuple[str, ResourceKind] | None:
    """(user ID, kind) of a subscription's or a notification's resource; None for anything else."""
    match = _RESOURCE.match(resource.strip())
    if match is None:
        return None
    kind: ResourceKind = "messages" if match.group(2).lower() == "messages" else "events"
    return match.group(1).lower(), kind


def client_state_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def client_state_matches(received: str | None, stored_sha256: str) -> bool:
    """Whether a notification's clientState is the subscription's secret, compared in constant time."""
    if not received or not stored_sha256:
        return False
    return hmac.compare_digest(client_state_hash(received), stored_sha256)


@dataclass(frozen=True, slots=True)
class SubscriptionPlan:
    """What a reconciliation does for one tenant: create, renew, delete (Graph first, then the store)."""

    create: tuple[tuple[str, ResourceKind], ...]
    renew: tuple[Subscription, ...]
    delete: tuple[Subscription, ...]

    @property
    def empty(self) -> bool:
        return not (self.create or self.renew or self.delete)


def plan_subscriptions(
    wanted_users: Iterable[str],
    existing: Iterable[Subscription],
    live_ids: frozenset[str] | None,
    now: datetime,
    policy: SubscriptionPolicy,
) -> SubscriptionPlan:
    """Reconcile a tenant's subscriptions with the users that should have them.

    `wanted_users`: the included users with a mailbox (nobody, when notifications are off). `live_ids`: the
    IDs Graph lists for the tenant (None when it was not asked): a stored subscription Graph no longer has
    was removed or expired there, so it is forgotten and made again. Of two subscriptions of one (user,
    kind) the one expiring last is kept. A user not wanted keeps nothing.
    """
    wanted = {user.lower() for user in wanted_users}
    keep: dict[tuple[str, ResourceKind], Subscription] = {}
    delete: list[Subscription] = []
    for sub in sorted(existing, key=lambda s: s.expires_at, reverse=True):
        lost = sub.expired(now) or (live_ids is not None and sub.subscription_id not in live_ids)
        if sub.user_id not in wanted or lost or (sub.user_id, sub.kind) in keep:
            delete.append(sub)
        else:
            keep[sub.user_id, sub.kind] = sub
    create = tuple(
        (user, kind) for user in sorted(wanted) for kind in RESOURCE_KINDS if (user, kind) not in keep
    )
    renew = tuple(s for s in keep.values() if s.expires_at - now < policy.renew_before)
    return SubscriptionPlan(create, renew, tuple(delete))


def has_graph_ids(tenant_id: str, subscription_id: str) -> bool:
    """Whether a notification names its subscription the way Graph does: the tenant's ID and the
    subscription's, both GUIDs. Anything else comes from someone other than Graph (the routes are anonymous),
    names no subscription of ours, and is not worth a storage read: a tenant ID is a table key, and text
    the table service refuses as one would fail the read."""
    return is_guid(tenant_id) and is_guid(subscription_id)


@dataclass(frozen=True, slots=True)
class ChangeNotification:
    """What a basic notification is allowed to carry: whose subscription, its secret, the user it names."""

    subscription_id: str
    tenant_id: str
    client_state: str | None
    change_type: str
    user_id: str | None  # from `resource`; None when it names no user resource

    @property
    def from_graph(self) -> bool:
        return has_graph_ids(self.tenant_id, self.subscription_id)


@dataclass(frozen=True, slots=True)
class LifecycleNotification:
    subscription_id: str
    tenant_id: str
    client_state: str | None
    event: LifecycleEvent

    @property
    def from_graph(self) -> bool:
        return has_graph_ids(self.tenant_id, self.subscription_id)


def parse_change_notifications(body: Any) -> list[ChangeNotification]:
    """The notifications of a POST from Graph; `ValidationFailed` when the body is not Graph's shape."""
    notifications = []
    for index, item in enumerate(_values(body)):
        ids = _ids(item, index)
        resource = item.get("resource")
        parsed = parse_resource(resource) if isinstance(resource, str) else None
        change = item.get("changeType")
        notifications.append(
            ChangeNotification(
                ids[0],
                ids[1],
                ids[2],
                change if isinstance(change, str) else "",
                parsed[0] if parsed else None,
            )
        )
    return notifications


def parse_lifecycle_notifications(body: Any) -> list[LifecycleNotification]:
    notifications = []
    for index, item in enumerate(_values(body)):
        subscription_id, tenant_id, client_state = _ids(item, index)
        event = next((e for e in LIFECYCLE_EVENTS if e == item.get("lifecycleEvent")), None)
        if event is None:
            raise ValidationFailed(
                "not a lifecycle notification",
                [
                    FieldError(
                        f"value[{index}].lifecycleEvent", f"must be one of {', '.join(LIFECYCLE_EVENTS)}"
                    )
                ],
            )
        notifications.append(LifecycleNotification(subscription_id, tenant_id, client_state, event))
    return notifications


def _values(body: Any) -> list[Mapping[str, Any]]:
    values = body.get("value") if isinstance(body, dict) else None
    if not isinstance(values, list) or not all(isinstance(v, dict) for v in values):
        raise ValidationFailed(
            "not a Graph notification collection", [FieldError("value", "must be a list of objects")]
        )
    return values


def _ids(item: Mapping[str, Any], index: int) -> tuple[str, str, str | None]:
    errors = [
        FieldError(f"value[{index}].{name}", "is required text")
        for name in ("subscriptionId", "tenantId")
        if not isinstance(item.get(name), str) or not item.get(name)
    ]
    state = item.get("clientState")
    if state is not None and (not isinstance(state, str) or len(state) > MAX_CLIENT_STATE):
        errors.append(FieldError(f"value[{index}].clientState", f"is text of at most {MAX_CLIENT_STATE}"))
    if errors:
        raise ValidationFailed("not a Graph notification", errors)
    return str(item["subscriptionId"]), str(item["tenantId"]).lower(), state
