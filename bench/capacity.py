"""`python -m bench.capacity`: the capacity model of a backfill, from the per-message costs `make bench`
measured (bench/results/ingest-costs.json, written by the ingest benchmark), written to docs/capacity.md.

Nothing here is measured in Azure: the costs are this app's own (requests, entity operations, Graph calls,
bytes and CPU per message, counted on the 100-user benchmark tenant), the limits are Microsoft's published
ones, and the arithmetic is below, so a reader can redo it with their own figures.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.framework import RESULTS

COSTS = RESULTS / "ingest-costs.json"
DOC = Path(__file__).resolve().parent.parent / "docs" / "capacity.md"

TENANTS = (1_000, 10_000, 100_000)
INSTANCES = (1, 10, 100)
MESSAGES_PER_USER_YEAR = 10_000  # "a normal year of mail": a 1,000-user tenant has about 10 million
GRAPH_PAGE = 1_000  # messages per Graph page (Prefer: odata.maxpagesize=1000)
ACCOUNT_ENTITIES_PER_SECOND = 20_000  # Table Storage: per storage account (1 KiB entities)
PARTITION_ENTITIES_PER_SECOND = 2_000  # Table Storage: per partition
GRAPH_MAILBOX_REQUESTS_PER_10_MIN = 10_000  # Outlook: per app, per mailbox
GRAPH_MAILBOX_CONCURRENCY = 4  # Outlook: concurrent requests per app, per mailbox
WINDOWS_PER_USER = 13  # 12 backfill windows + the first incremental one
MAX_ACCOUNTS = 16  # infra/main.bicep dataShardCount's @maxValue: the app's account and 15 data shards


@dataclass(frozen=True, slots=True)
class Costs:
    messages_per_mailbox_year: float
    graph_requests_per_mailbox_year: float
    requests_per_message: float
    operations_per_message: float
    # Of those, the operations on the per-user tables, which data shards spread over accounts by user.
    sharded_operations_per_message: float
    bytes_per_message: float
    cpu_seconds_per_message: float
    seconds_per_message_one_instance: float
    ceiling: float

    @classmethod
    def load(cls, path: Path = COSTS) -> Costs:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            messages_per_mailbox_year=data["messagesPerMailboxYear"],
            graph_requests_per_mailbox_year=data["graphRequestsPerMailboxYear"],
            requests_per_message=data["storageRequestsPerMessage"],
            operations_per_message=data["storageOperationsPerMessage"],
            sharded_operations_per_message=data["shardedOperationsPerMessage"],
            bytes_per_message=data["storedBytesPerMessage"],
            cpu_seconds_per_message=data["cpuSecondsPerMessage"],
            seconds_per_message_one_instance=data["secondsPerMessageOneInstance"],
            ceiling=data["ceilingEntitiesPerSecond"],
        )

    def graph_requests_per_mailbox(self, messages: int) -> float:
        """Measured on the benchmark's mailbox size; a bigger one adds a mail page per 1,000 messages."""
        extra = max(0.0, messages - self.messages_per_mailbox_year) / GRAPH_PAGE
        return self.graph_requests_per_mailbox_year + extra

    def instance_rate(self) -> float:
        """Messages per second one instance sustains: bounded by its CPU (one core: the worker's Python CPU
        per message) and by what the end-to-end run reached on this machine, whichever is faster is not
        known in Azure, so the slower (the measured end-to-end rate) is used."""
        return min(1 / self.cpu_seconds_per_message, 1 / self.seconds_per_message_one_instance)

    @property
    def unsharded_operations_per_message(self) -> float:
        return self.operations_per_message - self.sharded_operations_per_message

    def busiest_account_operations(self, accounts: int) -> float:
        """Entity operations per message on the app's own account, the busiest: its share of the users'
        per-user rows, and everything else (consent and opt-out reads, cursors, the account index, audit)."""
        return self.unsharded_operations_per_message + self.sharded_operations_per_message / accounts

    def account_rate(self, accounts: int) -> float:
        """Messages per second the busiest account takes within Table Storage's per-account target."""
        return ACCOUNT_ENTITIES_PER_SECOND / self.busiest_account_operations(accounts)

    def accounts_for(self, rate: float) -> int:
        """The fewest accounts (dataShardCount) that take `rate` msg/s; `MAX_ACCOUNTS` when none does."""
        return next((n for n in range(1, MAX_ACCOUNTS + 1) if self.account_rate(n) >= rate), MAX_ACCOUNTS)


def duration(hours: float) -> str:
    """Hours to one decimal; under six minutes, minutes (0.0 h would read as no time at all)."""
    return f"{hours * 60:,.1f} min" if hours < 0.1 else f"{hours:,.1f} h"


def hours(messages: float, rate: float) -> float:
    return messages / rate / 3600


def model(costs: Costs) -> str:
    per_instance = costs.instance_rate()
    one_account = costs.account_rate(1)
    sections = (
        _measured(costs),
        _assumptions(costs, per_instance),
        _backfills(costs, per_instance),
        _where_one_account_ends(costs, per_instance, one_account),
    )
    return "\n".join(line for section in sections for line in section)


def _measured(costs: Costs) -> list[str]:
    sharded_share = costs.sharded_operations_per_message / costs.operations_per_message
    return [
        "# Capacity model of a backfill",
        "",
        "Generated by `python -m bench.capacity` from the per-message costs the ingest benchmark measured",
        "(`python -m bench ingest`, 100-user tenant: Graph simulator -> the real worker -> Azurite).",
        "Do not edit by hand: run the benchmark, then the command.",
        "",
        "## Measured per-message costs",
        "",
        "| cost | value |",
        "|---|---|",
        f"| storage requests per 1,000 messages | {costs.requests_per_message * 1000:,.0f} |",
        f"| entity operations per 1,000 messages | {costs.operations_per_message * 1000:,.0f} |",
        (
            "| of which on the per-user tables (slices, contacts), which data shards spread |"
            f" {costs.sharded_operations_per_message * 1000:,.0f} ({sharded_share:.0%}) |"
        ),
        (
            f"| Graph requests per mailbox-year ({costs.messages_per_mailbox_year:,.0f} messages) |"
            f" {costs.graph_requests_per_mailbox_year:,.1f} |"
        ),
        f"| bytes stored per message (Azure's entity size formula) | {costs.bytes_per_message:,.0f} |",
        f"| worker CPU per 1,000 messages | {costs.cpu_seconds_per_message * 1000:,.2f} s |",
        (
            "| one instance, end to end, on the benchmark machine |"
            f" {1 / costs.seconds_per_message_one_instance:,.0f} msg/s |"
        ),
        f"| Azurite's insert ceiling in the same run (changesets of 100) | {costs.ceiling:,.0f} entities/s |",
        "",
    ]


def _assumptions(costs: Costs, per_instance: float) -> list[str]:
    return [
        "## Assumptions",
        "",
        f"- A user's year is {MESSAGES_PER_USER_YEAR:,} messages; entity operations and storage requests",
        "  scale with messages as measured (requests per message fall as windows grow, so this errs high).",
        f"- One instance ingests {per_instance:,.0f} msg/s: the slower of 1 / (CPU per message) and the",
        "  end-to-end rate measured here, where Azurite and the simulator shared the machine's two cores.",
        f"- Table Storage targets: {ACCOUNT_ENTITIES_PER_SECOND:,} entities/s per storage account,",
        f"  {PARTITION_ENTITIES_PER_SECOND:,} per partition. Every entity operation is counted against its",
        "  account's target (a changeset counts its operations).",
        "- Data shards (`dataShardCount` accounts in all, `DATA_SHARDS` to the app) divide the per-user",
        "  tables' operations evenly by user; everything else stays on the app's own account, which is",
        "  therefore the busiest: with N accounts it takes",
        (
            f"  {costs.unsharded_operations_per_message:.2f} + {costs.sharded_operations_per_message:.2f} / N"
            " operations per message."
        ),
        "- Partitions are not the limit: a user's slice is written by at most 4 windows at once (one Graph",
        f"  request in flight each), far below {PARTITION_ENTITIES_PER_SECOND:,}/s. The contact index has a",
        "  partition per contact and user, written by that user's windows only, so a contact the whole",
        "  tenant writes to is spread over as many partitions as people who know it.",
        f"- Graph (Outlook) limits per app and mailbox: {GRAPH_MAILBOX_CONCURRENCY} concurrent requests,",
        f"  {GRAPH_MAILBOX_REQUESTS_PER_10_MIN:,} per 10 minutes. A backfill reads a mailbox-year in a few",
        "  dozen requests, so no mailbox comes near them; the worker keeps at most 4 windows of a mailbox",
        "  running.",
        "",
    ]


def _backfills(costs: Costs, per_instance: float) -> list[str]:
    lines = [
        "## Backfill of a whole tenant",
        "",
        "Each cell: the hours, and the storage accounts (`dataShardCount`) that rate needs.",
        "",
        (
            "| users | messages | Graph requests | entity operations | storage requests | stored |"
            " 1 instance | 10 instances | 100 instances |"
        ),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for users in TENANTS:
        messages = users * MESSAGES_PER_USER_YEAR
        graph = users * costs.graph_requests_per_mailbox(MESSAGES_PER_USER_YEAR)
        cells = []
        for instances in INSTANCES:
            rate, accounts, capped = _reached(costs, instances * per_instance)
            cells.append(f"{duration(hours(messages, rate))}, {_accounts(accounts)}{capped}")
        lines.append(
            f"| {users:,} | {messages:,.0f} | {graph:,.0f} | {messages * costs.operations_per_message:,.0f} |"
            f" {messages * costs.requests_per_message:,.0f} | {_size(messages * costs.bytes_per_message)} |"
            f" {' | '.join(cells)} |"
        )
    return [*lines, ""]


def _where_one_account_ends(costs: Costs, per_instance: float, one_account: float) -> list[str]:
    saturating = math.ceil(one_account / per_instance)
    largest = _size(TENANTS[-1] * MESSAGES_PER_USER_YEAR * costs.bytes_per_message)
    most = costs.account_rate(MAX_ACCOUNTS)
    lines = [
        "## Where one storage account stops being enough",
        "",
        f"Throughput, not size: one account takes about {one_account:,.0f} msg/s, which",
        f"{saturating:,} instances reach; beyond that, more instances only wait on storage unless the",
        "per-user tables are spread over data shards. Size is far from a limit (a storage account holds",
        f"5 PiB; the largest tenant above stores {largest}). That point does not depend on the tenant's",
        "size, only on how fast its backfill must go, so it is inside every size above:",
        "",
        "| instances | msg/s they ingest | accounts needed (`dataShardCount`) | busiest account, ops/s |",
        "|---|---|---|---|",
    ]
    for instances in (*INSTANCES, 1_000):
        rate, accounts, bound = _reached(costs, instances * per_instance)
        load = rate * costs.busiest_account_operations(accounts)
        lines.append(f"| {instances:,} | {rate:,.0f}{bound} | {accounts} | {load:,.0f} |")
    lines += [
        "",
        f"With the most accounts the template allows ({MAX_ACCOUNTS}), the app's own account still takes",
        f"{costs.unsharded_operations_per_message:.2f} operations per message that no shard relieves (the",
        "fences' consent and opt-out reads, cursors, the account index, audit), so it tops out near",
        f"{most:,.0f} msg/s; going further would mean spreading those too. The purge deletes and verifies",
        "zero on every shard (docs/operations.md, Data shards).",
        "",
    ]
    return lines


def _reached(costs: Costs, wanted: float) -> tuple[float, int, str]:
    """The rate a backfill reaches when it wants `wanted` msg/s, the accounts that takes, and a note when
    storage holds it back."""
    accounts = costs.accounts_for(wanted)
    rate = min(wanted, costs.account_rate(accounts))
    return rate, accounts, " (account-bound)" if wanted > rate else ""


def _accounts(n: int) -> str:
    return "1 account" if n == 1 else f"{n} accounts"


def _size(n: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:,.0f} B"


def main(argv: list[str]) -> int:
    if not COSTS.exists():
        print(f"{COSTS} is missing: run `python -m bench ingest` first")
        return 2
    text = model(Costs.load())
    if argv == ["--print"]:
        print(text)
        return 0
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
