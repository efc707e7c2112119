"""(a) Parse and aggregate, messages per second per core: the raw-JSON path against the SDK's models.

Both paths read the same Graph pages (1,000 messages each, as the simulator serves them with the adapter's
`$select`) and do the same work after parsing: each message becomes interactions
(`interactions_from_message`) and the interactions are aggregated per contact, deduped by key. Raw JSON:
`graph_parse.parse_messages_page`. SDK: kiota's `JsonParseNode` into `MessageCollectionResponse` (what
`client.users.by_user_id(u).messages.get()` does), mapped to the same records. CPU time of this one process
(`time.process_time`), so the figure is per core. The SDK path is timed on fewer messages: it is about two
orders of magnitude slower.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bench.framework import Context, Figure
from functions.adapters.graph_parse import MESSAGE_FIELDS, parse_messages_page
from functions.domain.contacts import ContactHasher
from functions.domain.interactions import Directory, interactions_from_message
from functions.domain.metadata import DirectoryUser, MessageMeta
from graphsim import wire
from graphsim.generate import TenantSpec
from graphsim.tenant import Tenant

TITLE = "(a) parse + aggregate: raw JSON vs the SDK's generated models"
RAW_MESSAGES = 40_000
SDK_MESSAGES = 1_000
PAGE = 1_000
TARGET = 20_000.0


def pages(total: int) -> tuple[list[bytes], Directory, str]:
    tenant = Tenant(TenantSpec(seed=3, users=8, external_contacts=400, messages_per_user_per_month=300))
    user = next(u for u in tenant.users() if u.mail)
    end = tenant.spec.now + timedelta(days=1)
    # Every mailbox's pages, parsed as if they were one user's: the parse does not depend on the owner.
    copies = (c for u in tenant.users() if u.mail for c in tenant.mail_copies(u.id, tenant.spec.start, end))
    bodies: list[bytes] = []
    batch: list[dict[str, Any]] = []
    for copy in copies:
        batch.append(wire.select(wire.message_json(copy), list(MESSAGE_FIELDS)))
        if len(batch) == PAGE:
            bodies.append(_page(batch, len(bodies)))
            batch = []
        if len(bodies) * PAGE >= total:
            break
    if batch and len(bodies) * PAGE < total:
        bodies.append(_page(batch, len(bodies)))
    users = [
        DirectoryUser(u.id, u.display_name, (u.mail or "").lower(), u.user_principal_name)
        for u in tenant.users()
    ]
    return bodies, Directory(users, tenant.verified_domains), user.id


def _page(values: list[dict[str, Any]], number: int) -> bytes:
    link = f"https://graph.microsoft.com/v1.0/users/x/messages?$skiptoken={number + 1}"
    return json.dumps({"value": values, "@odata.nextLink": link}).encode()


def aggregate(
    messages: list[MessageMeta], directory: Directory, hasher: ContactHasher, into: dict[str, set[str]]
) -> None:
    for message in messages:
        for interaction in interactions_from_message(message, directory, hasher):
            into.setdefault(interaction.contact, set()).add(interaction.key)


def timed(
    bodies: list[bytes], parse: Callable[[bytes], list[MessageMeta]], directory: Directory
) -> tuple[float, int]:
    hasher = ContactHasher(b"bench-key", "00000000-0000-4000-8000-000000000000")
    per_contact: dict[str, set[str]] = {}
    count = 0
    started = time.process_time()
    for body in bodies:
        messages = parse(body)
        aggregate(messages, directory, hasher, per_contact)
        count += len(messages)
    return time.process_time() - started, count


def sdk_parser(user_id: str) -> Callable[[bytes], list[MessageMeta]]:
    from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory  # noqa: PLC0415
    from msgraph.generated.models.message_collection_response import MessageCollectionResponse  # noqa: PLC0415

    factory = JsonParseNodeFactory()

    def address(recipient: Any) -> str:
        email = getattr(recipient, "email_address", None)
        return (getattr(email, "address", None) or "").lower()

    def meta(m: Any) -> MessageMeta:
        return MessageMeta(
            user_id,
            m.id,
            m.internet_message_id or m.id,
            m.conversation_id or "",
            address(m.from_) or address(m.sender),
            tuple(address(r) for r in m.to_recipients or ()),
            tuple(address(r) for r in m.cc_recipients or ()),
            tuple(address(r) for r in m.bcc_recipients or ()),
            m.sent_date_time or m.received_date_time,
            m.received_date_time,
            bool(m.is_draft),
        )

    def parse(body: bytes) -> list[MessageMeta]:
        response = factory.get_root_parse_node("application/json", body).get_object_value(
            MessageCollectionResponse
        )
        return [meta(m) for m in response.value or ()]

    return parse


def run(ctx: Context) -> list[Figure]:
    bodies, directory, user_id = pages(RAW_MESSAGES)
    raw_seconds, raw_count = timed(bodies, lambda b: parse_messages_page(b, user_id)[0], directory)
    ctx.say(f"raw JSON: {raw_count:,} messages in {raw_seconds:.2f} s CPU")
    sdk_bodies = bodies[: max(1, SDK_MESSAGES // PAGE)]
    sdk_seconds, sdk_count = timed(sdk_bodies, sdk_parser(user_id), directory)
    ctx.say(f"SDK models: {sdk_count:,} messages (the same first pages) in {sdk_seconds:.2f} s CPU")
    raw_rate, sdk_rate = raw_count / raw_seconds, sdk_count / sdk_seconds
    return [
        Figure(
            "parse+aggregate, raw JSON path", raw_rate, "msg/s/core", TARGET, detail=f"{raw_count} messages"
        ),
        Figure(
            "parse+aggregate, SDK model path (baseline)",
            sdk_rate,
            "msg/s/core",
            detail=f"{sdk_count} messages",
        ),
        Figure("raw JSON speed-up over the SDK models", raw_rate / sdk_rate, "x"),
    ]
