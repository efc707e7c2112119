"""`make serve` leaves nothing running on any path out: a signal to the whole process group (what CI, IDEs and
`timeout` send), a second signal while it stops, or the host killed outright. Each test serves a copy of the
app from a temporary folder on free ports, with the Azurite it starts itself."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.azurite import ROOT, free_port

pytestmark = pytest.mark.e2e

READY = "Host started on"


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_gone(pids: list[int], timeout: float = 20.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in pids if alive(p)]
        if not left:
            return []
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


class Serving:
    """`python -m devhost serve` in a process group of its own, and the Azurite it started."""

    def __init__(self, script_root: Path) -> None:
        self.log = script_root / "serve.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "devhost", "serve", "--port", str(free_port()),
                 "--azurite-ports", "free", "--script-root", str(script_root)],
                cwd=script_root, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, "PYTHONPATH": str(ROOT), "DEVHOST_TIMERS": "off"},
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while READY not in self.log.read_text(errors="replace"):
            assert self.process.poll() is None, self.log.read_text(errors="replace")
            assert time.monotonic() < deadline, "the host did not start within 60 s"
            time.sleep(0.1)
        (self.azurite,) = [c for c in children_of(self.process.pid) if "azurite" in _cmdline(c)]

    def wait_for_log(self, text: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log.read_text(errors="replace"):
            assert time.monotonic() < deadline, f"{text!r} not logged within {timeout} s"
            time.sleep(0.005)

    @property
    def pids(self) -> list[int]:
        return [self.process.pid, self.azurite]

    def group_signal(self, signum: int) -> None:
        os.killpg(self.process.pid, signum)

    def cleanup(self) -> None:
        for pid in self.pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[Serving]:
    for name in ("host.json", "local.settings.example.json", "function_app.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    started = Serving(tmp_path)
    try:
        yield started
    finally:
        started.cleanup()


def test_a_signal_to_the_whole_process_group_stops_the_host_and_its_azurite(serving: Serving) -> None:
    serving.group_signal(signal.SIGTERM)
    assert wait_gone(serving.pids) == []
    assert serving.process.wait(timeout=10) == 0


def test_a_second_signal_while_stopping_exits_at_once_and_still_stops_azurite(serving: Serving) -> None:
    serving.group_signal(signal.SIGTERM)
    serving.wait_for_log("Stopping the host")
    os.kill(serving.process.pid, signal.SIGTERM)  # as a supervisor does when stopping takes too long
    assert wait_gone(serving.pids) == []
    assert "Stopping at once." in serving.log.read_text(errors="replace")


def test_a_hangup_stops_the_host_and_its_azurite(serving: Serving) -> None:
    serving.group_signal(signal.SIGHUP)
    assert wait_gone(serving.pids) == []


def test_a_host_killed_outright_takes_its_azurite_with_it(serving: Serving) -> None:
    os.kill(serving.process.pid, signal.SIGKILL)
    assert wait_gone(serving.pids) == []
