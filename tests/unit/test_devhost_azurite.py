"""The Azurite the project starts: loopback ports of its own, no usage reports, in memory or on disk."""

from __future__ import annotations

from pathlib import Path

from devhost.azurite import Azurite, AzuritePorts

PORTS = AzuritePorts(blob=41001, queue=41002, table=41003)


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_azurite_listens_on_loopback_at_the_chosen_ports() -> None:
    command = Azurite(PORTS).command()
    services = ("blob", "queue", "table")

    assert {_option(command, f"--{service}Host") for service in services} == {"127.0.0.1"}
    assert [_option(command, f"--{service}Port") for service in services] == ["41001", "41002", "41003"]


def test_azurite_runs_with_its_usage_telemetry_disabled() -> None:
    assert "--disableTelemetry" in Azurite(PORTS).command()


def test_azurite_keeps_data_in_memory_unless_given_a_location(tmp_path: Path) -> None:
    assert "--inMemoryPersistence" in Azurite(PORTS).command()

    on_disk = Azurite(PORTS, location=tmp_path).command()
    assert "--inMemoryPersistence" not in on_disk
    assert _option(on_disk, "--location") == str(tmp_path)
