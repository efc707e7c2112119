"""The composition root: builds clients and services once, lazily, from settings.

Handlers call `container()`; tests build their own `Container` (with their own settings, clock or clients)
and `install()` it. Nothing else in the package constructs an Azure or Graph client.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property

from functions.adapters.storage import StorageClients
from functions.settings import Settings

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Container:
    """Everything the entry points need, built on first use. Add a service as one `cached_property`."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = utc_now,
        storage: StorageClients | None = None,
    ) -> None:
        self.settings = settings
        self.now = clock
        self._storage = storage

    @cached_property
    def storage(self) -> StorageClients:
        return self._storage or StorageClients(self.settings.storage)


_container: Container | None = None
_lock = threading.Lock()


def container() -> Container:
    """The process-wide container, built from the environment on first use."""
    global _container  # noqa: PLW0603  (the one process-wide singleton, guarded by a lock)
    if _container is None:
        with _lock:
            if _container is None:
                _container = Container(Settings.from_env(os.environ))
    return _container


def install(replacement: Container | None) -> None:
    """Use `replacement` from now on (tests); `None` makes the next call rebuild from the environment."""
    global _container  # noqa: PLW0603
    with _lock:
        _container = replacement
