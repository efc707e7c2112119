"""Graph's subscription API (create, renew, delete, list), for `GraphAdapter`: built with msgraph-sdk's
request builders and models, sent through the same adapter, retry middleware and error translation as every
other Graph call. Subscriptions ask for *basic* notifications only: `includeResourceData` is false, so a
notification carries IDs and never the content of a message or an event."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from kiota_abstractions.request_information import RequestInformation
from msgraph.generated.models.subscription import Subscription as SubscriptionModel
from msgraph.graph_service_client import GraphServiceClient

from functions.domain.errors import GraphMalformedResponse, GraphNotFound
from functions.domain.subscriptions import CHANGE_TYPES
from functions.services.ports.subscriptions import GraphSubscription

T = TypeVar("T")


class GraphRequests(Protocol):
    """What the subscription calls need of `GraphAdapter`: its client for a tenant, its senders and its pager,
    which bring the retry middleware, the per-mailbox limit and the translation of errors."""

    def client(self, tenant_id: str) -> GraphServiceClient: ...

    async def send(self, tenant_id: str, mailbox: str | None, ri: RequestInformation) -> bytes: ...

    async def send_no_content(self, tenant_id: str, ri: RequestInformation) -> None: ...

    def pages(
        self,
        tenant_id: str,
        mailbox: str | None,
        ri: RequestInformation,
        parse: Callable[[bytes], tuple[list[T], str | None]],
        headers: dict[str, str] | None = None,
    ) -> AsyncIterator[list[T]]: ...


class GraphSubscriptions:
    """Mixed into `GraphAdapter`; each call asks only for the `GraphRequests` the adapter provides."""

    async def create_subscription(
        self: GraphRequests,
        tenant_id: str,
        *,
        resource: str,
        notification_url: str,
        lifecycle_url: str,
        client_state: str,
        expires_at: datetime,
    ) -> GraphSubscription:
        body = SubscriptionModel(
            change_type=CHANGE_TYPES,
            resource=resource,
            notification_url=notification_url,
            lifecycle_notification_url=lifecycle_url,
            client_state=client_state,
            expiration_date_time=expires_at.astimezone(UTC),
            include_resource_data=False,
        )
        ri = self.client(tenant_id).subscriptions.to_post_request_information(body)
        return _subscription(_object(await self.send(tenant_id, None, ri)))

    async def renew_subscription(
        self: GraphRequests, tenant_id: str, subscription_id: str, expires_at: datetime
    ) -> datetime:
        body = SubscriptionModel(expiration_date_time=expires_at.astimezone(UTC))
        item = self.client(tenant_id).subscriptions.by_subscription_id(subscription_id)
        return _subscription(
            _object(await self.send(tenant_id, None, item.to_patch_request_information(body)))
        ).expires_at

    async def delete_subscription(self: GraphRequests, tenant_id: str, subscription_id: str) -> bool:
        item = self.client(tenant_id).subscriptions.by_subscription_id(subscription_id)
        try:
            await self.send_no_content(tenant_id, item.to_delete_request_information())
        except GraphNotFound:
            return False
        return True

    async def list_subscriptions(self: GraphRequests, tenant_id: str) -> AsyncIterator[GraphSubscription]:
        ri = self.client(tenant_id).subscriptions.to_get_request_information()
        async for page in self.pages(tenant_id, None, ri, _subscriptions_page):
            for sub in page:
                yield sub


def _object(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        raise GraphMalformedResponse("Graph answered a subscription call with malformed JSON") from None
    if not isinstance(data, dict):
        raise GraphMalformedResponse("Graph answered a subscription call with something other than an object")
    return data


def _subscription(data: dict[str, Any]) -> GraphSubscription:
    try:
        expires = datetime.fromisoformat(str(data["expirationDateTime"]))
        return GraphSubscription(
            subscription_id=str(data["id"]),
            resource=str(data.get("resource") or ""),
            expires_at=expires.astimezone(UTC),
            notification_url=str(data.get("notificationUrl") or ""),
        )
    except (KeyError, ValueError) as error:
        raise GraphMalformedResponse(f"a Graph subscription lacks {error}") from None


def _subscriptions_page(raw: bytes) -> tuple[list[GraphSubscription], str | None]:
    data = _object(raw)
    values = data.get("value")
    if not isinstance(values, list):
        raise GraphMalformedResponse("a page of Graph subscriptions has no value list")
    link = data.get("@odata.nextLink")
    return [_subscription(v) for v in values if isinstance(v, dict)], link if isinstance(link, str) else None
