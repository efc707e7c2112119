"""Run in a subprocess by bench/memory.py: read one mailbox's whole year through the Graph adapter as the
ingestion worker does (pages streamed, interactions flushed every 2,000), print messages read and peak RSS as
JSON.

    python -m bench.memory_probe GRAPH_URL TOKEN USER_ID START END
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
from datetime import datetime

from functions.adapters.graph import GraphAdapter
from functions.adapters.graph_auth import StaticTokenCredential
from functions.domain.contacts import ContactHasher
from functions.domain.interactions import Directory, Interaction, interactions_from_message
from functions.services.ingestion import FLUSH_INTERACTIONS

TENANT = "00000000-0000-4000-8000-000000000000"


async def read(url: str, token: str, user_id: str, start: datetime, end: datetime) -> dict[str, int]:
    graph = GraphAdapter(url, lambda _tenant: StaticTokenCredential(token))
    try:
        users = [user async for user in graph.list_users(TENANT)]
        directory = Directory(users, await graph.verified_domains(TENANT))
        hasher = ContactHasher(b"bench-key", TENANT)
        per_contact: dict[str, int] = {}
        buffer: list[Interaction] = []
        messages = interactions = 0
        async for page in graph.messages(TENANT, user_id, start, end):
            messages += len(page)
            for message in page:
                buffer.extend(interactions_from_message(message, directory, hasher))
            if len(buffer) >= FLUSH_INTERACTIONS:  # the worker writes these to storage and forgets them
                interactions += _flush(buffer, per_contact)
        interactions += _flush(buffer, per_contact)
    finally:
        await graph.aclose()
    return {"messages": messages, "interactions": interactions, "contacts": len(per_contact)}


def _flush(buffer: list[Interaction], per_contact: dict[str, int]) -> int:
    for interaction in buffer:
        per_contact[interaction.contact] = per_contact.get(interaction.contact, 0) + 1
    flushed = len(buffer)
    buffer.clear()
    return flushed


def main(argv: list[str]) -> None:
    url, token, user_id, start, end = argv
    counts = asyncio.run(
        read(url, token, user_id, datetime.fromisoformat(start), datetime.fromisoformat(end))
    )
    # ru_maxrss is in KiB on Linux.
    counts["maxRssKiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sys.stdout.write(json.dumps(counts) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
