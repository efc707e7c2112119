"""Start and stop the Azurite storage emulator owned by the project (npm `azurite`, pinned in package.json).

Used by the test fixtures, the local host (`make serve`), the demo and the benchmarks. Ports are free ones by
default so that several runs can share a machine; `--skipApiVersionCheck` because the Python SDKs send an
API version newer than Azurite 3.35 knows; `--disableTelemetry` because Azurite otherwise reports usage to
Application Insights from every run (these machines have no route there, and a privacy project's tests should
not phone home).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AZURITE_BIN = ROOT / "node_modules" / ".bin" / "azurite"

# The well-known development account of every Azurite and Storage Emulator; not a secret.
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
# More accounts in the same Azurite, to stand for the storage shards (`DATA_SHARDS`) of a deployment. Azurite
# serves only the accounts `AZURITE_ACCOUNTS` lists once it is set, so the development account is listed too.
SHARD_ACCOUNTS = ("devshard1", "devshard2")


def cpu_seconds_of(pid: int) -> float | None:
    """CPU time process `pid` has used so far (Linux /proc), or None where that cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime, in ticks


@dataclass(frozen=True, slots=True)
class AzuritePorts:
    blob: int
    queue: int
    table: int

    @classmethod
    def standard(cls) -> AzuritePorts:
        return cls(10000, 10001, 10002)

    @classmethod
    def free(cls) -> AzuritePorts:
        return cls(free_port(), free_port(), free_port())


def connection_string(ports: AzuritePorts, host: str = "127.0.0.1", account: str = DEV_ACCOUNT) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={DEV_KEY};"
        f"BlobEndpoint=http://{host}:{ports.blob}/{account};"
        f"QueueEndpoint=http://{host}:{ports.queue}/{account};"
        f"TableEndpoint=http://{host}:{ports.table}/{account};"
    )


def data_shards(ports: AzuritePorts, count: int) -> str:
    """A `DATA_SHARDS` value: `count` more accounts of this Azurite (at most `len(SHARD_ACCOUNTS)`)."""
    if not 0 <= count <= len(SHARD_ACCOUNTS):
        raise ValueError(f"this Azurite has {len(SHARD_ACCOUNTS)} shard accounts; asked for {count}")
    return ",".join(connection_string(ports, account=account) for account in SHARD_ACCOUNTS[:count])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


def ports_open(ports: AzuritePorts) -> bool:
    """Whether something (presumably an Azurite) already listens on all three ports."""
    return all(_port_open(p) for p in (ports.blob, ports.queue, ports.table))


class AzuriteNotInstalledError(RuntimeError):
    pass


class Azurite:
    """One Azurite process. `location=None` keeps everything in memory."""

    def __init__(
        self,
        ports: AzuritePorts | None = None,
        location: Path | None = None,
        *,
        die_with_parent: bool = False,
    ) -> None:
        self.ports = ports or AzuritePorts.free()
        self.location = location
        # Azurite runs in a session of its own (a Ctrl-C meant for the host must not kill storage under a
        # draining host), so nothing else stops it if its parent is killed outright: with this, Linux sends
        # it SIGTERM when the thread that started it dies, however it dies. Start it from a long-lived thread.
        self.die_with_parent = die_with_parent
        self._process: subprocess.Popen[bytes] | None = None
        self._log_dir = Path(tempfile.mkdtemp(prefix="azurite-log-"))

    @property
    def connection_string(self) -> str:
        return connection_string(self.ports)

    def data_shards(self, count: int) -> str:
        return data_shards(self.ports, count)

    @property
    def log_path(self) -> Path:
        return self._log_dir / "azurite.log"

    def command(self) -> list[str]:
        """The Azurite command line: loopback only, these ports, no telemetry, in memory or at `location`."""
        args = [
            str(AZURITE_BIN),
            "--silent",
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
            "--blobHost", "127.0.0.1", "--blobPort", str(self.ports.blob),
            "--queueHost", "127.0.0.1", "--queuePort", str(self.ports.queue),
            "--tableHost", "127.0.0.1", "--tablePort", str(self.ports.table),
        ]  # fmt: skip
        if self.location is None:
            return [*args, "--inMemoryPersistence"]
        return [*args, "--location", str(self.location)]

    def start(self, timeout: float = 30.0) -> None:
        if not AZURITE_BIN.exists():
            raise AzuriteNotInstalledError(f"{AZURITE_BIN} is missing: run `npm ci` (the Makefile does)")
        args = self.command()
        if self.location is not None:
            self.location.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
            accounts = ";".join(f"{name}:{DEV_KEY}" for name in (DEV_ACCOUNT, *SHARD_ACCOUNTS))
            self._process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, "AZURITE_ACCOUNTS": accounts},
                preexec_fn=_terminate_with_parent if self.die_with_parent else None,  # noqa: PLW1509  (prctl only)
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"Azurite exited early; see {self.log_path}")
            if all(_port_open(p) for p in (self.ports.blob, self.ports.queue, self.ports.table)):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Azurite did not open its ports within {timeout} s; see {self.log_path}")

    def cpu_seconds(self) -> float | None:
        """CPU time the Azurite process has used so far (Linux /proc), or None where that cannot be read.

        The benchmarks divide it by the entities handled to show how much of a run is the emulator's own work.
        """
        process = self._process
        return None if process is None else cpu_seconds_of(process.pid)

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def kill_now(self) -> None:
        """Stop at once (no waiting): the host's last act before an immediate exit."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def restart(self) -> None:
        """Stop and start on the same ports (data survives only with a `location`)."""
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self._log_dir, ignore_errors=True)

    def __enter__(self) -> Azurite:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()


@contextlib.contextmanager
def running_azurite(ports: AzuritePorts | None = None, location: Path | None = None) -> Iterator[Azurite]:
    with Azurite(ports, location) as azurite:
        yield azurite


_PR_SET_PDEATHSIG = 1


def _terminate_with_parent() -> None:
    """In the child, before exec: ask Linux for SIGTERM when the parent dies (no-op elsewhere)."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
