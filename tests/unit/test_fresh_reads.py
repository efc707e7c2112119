"""FreshReads: the fence's tenant-wide reads shared by concurrent windows, never answered from the past.

The source below is a counter that a "writer" bumps; a read returns the value it saw when it started. The
guarantee under test is that no caller gets a value older than the one current when it asked.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from functions.services.inclusion import FreshReads

WAIT = 10.0


class GatedSource:
    """A store whose reads block until the test lets them finish, so the test decides what overlaps."""

    def __init__(self) -> None:
        self.version = 0
        self.reads = 0
        self.started = threading.Semaphore(0)
        self.release = threading.Semaphore(0)
        self.fail_next = False

    def read(self, key: str) -> tuple[str, int]:
        seen = self.version
        self.reads += 1
        self.started.release()
        assert self.release.acquire(timeout=WAIT)
        if self.fail_next:
            self.fail_next = False
            raise OSError("the store is unreachable")
        return key, seen


def started(source: GatedSource) -> None:
    assert source.started.acquire(timeout=WAIT), "no read started"


def test_a_caller_alone_reads_at_once() -> None:
    source = GatedSource()
    source.release.release()
    assert FreshReads(source.read).get("t1") == ("t1", 0)
    assert source.reads == 1


def test_callers_who_ask_during_a_read_share_the_next_one_and_see_what_changed_before_they_asked() -> None:
    source = GatedSource()
    reads = FreshReads(source.read)
    with ThreadPoolExecutor(max_workers=6) as pool:
        first = pool.submit(reads.get, "t1")
        started(source)  # the first read has seen version 0 and is in flight
        source.version = 1  # a withdrawal, say, lands now
        later = [pool.submit(reads.get, "t1") for _ in range(5)]
        source.release.release()  # the first read ends; the next one starts for all five
        started(source)
        source.release.release()
        assert first.result(WAIT) == ("t1", 0)
        assert [f.result(WAIT) for f in later] == [("t1", 1)] * 5
    assert source.reads == 2


def test_keys_do_not_wait_for_each_other() -> None:
    source = GatedSource()
    reads = FreshReads(source.read)
    with ThreadPoolExecutor(max_workers=2) as pool:
        one = pool.submit(reads.get, "t1")
        other = pool.submit(reads.get, "t2")
        started(source)
        started(source)  # both in flight at once
        source.release.release()
        source.release.release()
        assert {one.result(WAIT), other.result(WAIT)} == {("t1", 0), ("t2", 0)}


def test_an_error_reaches_every_caller_that_shared_the_read_and_the_next_caller_reads_anew() -> None:
    source = GatedSource()
    reads = FreshReads(source.read)
    with ThreadPoolExecutor(max_workers=4) as pool:
        first = pool.submit(reads.get, "t1")
        started(source)
        later = [pool.submit(reads.get, "t1") for _ in range(3)]
        source.release.release()
        assert first.result(WAIT) == ("t1", 0)
        started(source)
        source.fail_next = True
        source.release.release()
        for future in later:
            with pytest.raises(OSError, match="unreachable"):
                future.result(WAIT)
    source.release.release()
    assert reads.get("t1") == ("t1", 0)
    assert source.reads == 3


def test_no_caller_is_ever_answered_by_a_read_older_than_its_question() -> None:
    """Many callers and a writer at once, reads not gated: each answer is at least the version current when
    its caller asked."""
    version = 0
    lock = threading.Lock()

    def read(key: str) -> int:
        with lock:
            return version

    reads: FreshReads[str, int] = FreshReads(read)
    stale: list[tuple[int, int]] = []

    def ask(_: int) -> None:
        nonlocal version
        with lock:
            version += 1
            asked_at = version
        answer = reads.get("t1")
        if answer < asked_at:
            stale.append((asked_at, answer))

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(ask, range(2_000)))
    assert stale == []
