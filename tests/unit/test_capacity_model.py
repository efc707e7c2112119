"""The capacity model's arithmetic (bench/capacity.py): hours follow from the measured per-message costs;
instances beyond what one storage account takes need data shards, and beyond what the app's own account takes
of the tables no shard spreads, nothing makes a backfill faster."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bench.capacity import (
    ACCOUNT_ENTITIES_PER_SECOND,
    MAX_ACCOUNTS,
    MESSAGES_PER_USER_YEAR,
    Costs,
    duration,
    model,
)

COSTS = Costs(
    messages_per_mailbox_year=1_000,
    graph_requests_per_mailbox_year=24,
    requests_per_message=0.5,
    operations_per_message=2.0,
    sharded_operations_per_message=1.5,  # 0.5 per message stays on the app's account whatever the shards
    bytes_per_message=2_000,
    cpu_seconds_per_message=0.002,  # 500 msg/s of CPU
    seconds_per_message_one_instance=0.004,  # 250 msg/s end to end: the slower one counts
    ceiling=6_000,
)


def row(text: str, users: int) -> list[str]:
    """The backfill table's row of a tenant of `users`."""
    table = text.split("## Backfill of a whole tenant")[1].split("\n## ", maxsplit=1)[0]
    [line] = [line for line in table.splitlines() if line.startswith(f"| {users:,} |")]
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_one_instance_runs_at_the_slower_of_its_cpu_and_the_measured_rate() -> None:
    assert COSTS.instance_rate() == pytest.approx(250)


def test_a_tenant_backfill_takes_its_messages_over_the_instances_rate() -> None:
    cells = row(model(COSTS), 1_000)
    messages = 1_000 * MESSAGES_PER_USER_YEAR
    assert cells[1] == f"{messages:,}"
    assert cells[6] == f"{messages / 250 / 3600:,.1f} h, 1 account"
    assert cells[7] == f"{messages / 2_500 / 3600:,.1f} h, 1 account"


def test_one_account_takes_the_per_account_target_over_every_operation_of_a_message() -> None:
    assert COSTS.account_rate(1) == pytest.approx(ACCOUNT_ENTITIES_PER_SECOND / 2.0)


def test_shards_divide_only_the_per_user_tables_operations() -> None:
    assert COSTS.busiest_account_operations(3) == pytest.approx(0.5 + 1.5 / 3)


def test_instances_beyond_one_account_are_given_the_fewest_shards_that_take_them() -> None:
    # 100 x 250 = 25,000 msg/s; N accounts take 20,000 / (0.5 + 1.5 / N): 4 take 22,857, 5 take 25,000.
    cells = row(model(COSTS), 100_000)
    messages = 100_000 * MESSAGES_PER_USER_YEAR
    assert cells[8] == f"{messages / 25_000 / 3600:,.1f} h, 5 accounts"
    assert COSTS.accounts_for(25_000) == 5


def test_what_no_shard_relieves_bounds_the_backfill_and_says_so() -> None:
    heavy = replace(COSTS, sharded_operations_per_message=1.0)  # 1.0 per message on the app's account
    best = ACCOUNT_ENTITIES_PER_SECOND / (1.0 + 1.0 / MAX_ACCOUNTS)
    cells = row(model(heavy), 100_000)
    messages = 100_000 * MESSAGES_PER_USER_YEAR
    assert cells[8] == f"{messages / best / 3600:,.1f} h, {MAX_ACCOUNTS} accounts (account-bound)"


def test_a_bigger_mailbox_costs_a_graph_page_per_thousand_more_messages() -> None:
    assert COSTS.graph_requests_per_mailbox(3_000) == pytest.approx(26)


def test_a_backfill_of_minutes_is_given_in_minutes_not_as_no_time() -> None:
    assert duration(2.5 / 60) == "2.5 min"
    assert duration(0.3) == "0.3 h"
