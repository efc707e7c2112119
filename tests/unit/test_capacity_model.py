"""The capacity model's arithmetic (bench/capacity.py): hours follow from the measured per-message costs, and
instances beyond what one storage account takes do not make a backfill faster."""

from __future__ import annotations

import pytest

from bench.capacity import ACCOUNT_ENTITIES_PER_SECOND, MESSAGES_PER_USER_YEAR, Costs, model

COSTS = Costs(
    messages_per_mailbox_year=1_000,
    graph_requests_per_mailbox_year=24,
    requests_per_message=0.5,
    operations_per_message=2.0,
    bytes_per_message=2_000,
    cpu_seconds_per_message=0.002,  # 500 msg/s of CPU
    seconds_per_message_one_instance=0.004,  # 250 msg/s end to end: the slower one counts
    ceiling=6_000,
)


def row(text: str, users: int) -> list[str]:
    [line] = [line for line in text.splitlines() if line.startswith(f"| {users:,} |")]
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_one_instance_runs_at_the_slower_of_its_cpu_and_the_measured_rate() -> None:
    assert COSTS.instance_rate() == pytest.approx(250)


def test_a_tenant_backfill_takes_its_messages_over_the_instances_rate() -> None:
    cells = row(model(COSTS), 1_000)
    messages = 1_000 * MESSAGES_PER_USER_YEAR
    assert cells[1] == f"{messages:,}"
    assert cells[6] == f"{messages / 250 / 3600:,.1f} h"
    assert cells[7] == f"{messages / 2_500 / 3600:,.1f} h"


def test_instances_beyond_the_account_target_wait_on_storage() -> None:
    account_rate = ACCOUNT_ENTITIES_PER_SECOND / COSTS.operations_per_message  # 10,000 msg/s < 100 x 250
    cells = row(model(COSTS), 100_000)
    messages = 100_000 * MESSAGES_PER_USER_YEAR
    assert cells[8] == f"{messages / account_rate / 3600:,.1f} h (account-bound)"
    assert "account-bound" not in cells[7]


def test_a_bigger_mailbox_costs_a_graph_page_per_thousand_more_messages() -> None:
    assert COSTS.graph_requests_per_mailbox(3_000) == pytest.approx(26)
