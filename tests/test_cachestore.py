"""The signed store's background writes (sgplan/cachestore.py): entries queued with `put_later`
are written by a forked child at `flush_writes()`, all of them by the end of the
`background_writes()` block, never after it, and a stuck or failing writer costs only its entry."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from sgplan import cachestore
from sgplan.cachestore import SignedStore, background_writes, flush_writes

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="writers are forked only on Linux")


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))


@pytest.fixture
def no_other_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite may run with helper threads alive (servers of other tests); these tests are
    about the fork path, which such threads would rightly switch off."""
    monkeypatch.setattr(cachestore.threading, "active_count", lambda: 1)


def _pid_payload() -> bytes:
    return str(os.getpid()).encode()


def test_outside_a_block_put_later_writes_at_once(tmp_path: Path) -> None:
    store = SignedStore(tmp_path)
    store.put_later("now.entry", _pid_payload)
    assert store.get("now.entry") == str(os.getpid()).encode()


@linux_only
def test_a_flush_hands_the_queue_to_a_child_and_the_block_waits_for_it(tmp_path: Path, no_other_threads: None) -> None:
    store = SignedStore(tmp_path)
    with background_writes():
        store.put_later("a.entry", _pid_payload)
        assert store.get("a.entry") is None  # queued, not written
        flush_writes()
    written = store.get("a.entry")
    assert written is not None and written != str(os.getpid()).encode()  # produced in another process


@linux_only
def test_the_child_sees_the_values_as_they_were_at_the_flush(tmp_path: Path, no_other_threads: None) -> None:
    store = SignedStore(tmp_path)
    values = [b"before"]
    with background_writes():
        store.put_later("snap.entry", lambda: b"".join(values))
        flush_writes()
        values.append(b"-after")  # the parent goes on changing its objects
    assert store.get("snap.entry") == b"before"


def test_what_is_still_queued_is_written_when_the_block_ends(tmp_path: Path) -> None:
    store = SignedStore(tmp_path)
    with background_writes():
        store.put_later("late.entry", lambda: b"late")
    assert store.get("late.entry") == b"late"


def test_with_another_thread_running_the_queue_is_written_here(tmp_path: Path) -> None:
    store = SignedStore(tmp_path)
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        with background_writes():
            store.put_later("t.entry", _pid_payload)
            flush_writes()
            assert store.get("t.entry") == str(os.getpid()).encode()  # written before flush returned
    finally:
        stop.set()
        thread.join()


@linux_only
def test_a_failing_producer_leaves_no_entry_and_does_not_fail_the_run(tmp_path: Path, no_other_threads: None) -> None:
    store = SignedStore(tmp_path)

    def broken() -> bytes:
        raise ValueError("not covered by the codec")

    with background_writes():
        store.put_later("bad.entry", broken)
        store.put_later("good.entry", lambda: b"ok")
        flush_writes()
        store.put_later("bad-here.entry", broken)  # written (not) in this process at the end
    assert store.get("bad.entry") is None and store.get("bad-here.entry") is None
    assert store.get("good.entry") == b"ok"


@linux_only
def test_a_stuck_writer_is_killed_when_the_wait_runs_out(tmp_path: Path, no_other_threads: None) -> None:
    store = SignedStore(tmp_path)
    start = time.monotonic()
    with background_writes(wait=0.5):
        store.put_later("slow.entry", lambda: time.sleep(30) or b"never")
        flush_writes()
    assert time.monotonic() - start < 10
    assert store.get("slow.entry") is None
    leftovers = [p.name for p in (tmp_path / cachestore.CACHE_DIR).iterdir()] if (tmp_path / cachestore.CACHE_DIR).exists() else []
    assert "slow.entry" not in leftovers


def test_an_interrupted_block_drops_its_queue(tmp_path: Path) -> None:
    store = SignedStore(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        with background_writes():
            store.put_later("dropped.entry", lambda: b"x")
            raise KeyboardInterrupt
    assert store.get("dropped.entry") is None


def test_no_key_means_nothing_is_queued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cachestore, "_user_key", lambda: None)
    store = SignedStore(tmp_path)
    called = []
    with background_writes():
        store.put_later("x.entry", lambda: called.append(1) or b"x")
        flush_writes()
    assert called == [] and not (tmp_path / ".sgplan").exists()


@linux_only
def test_a_writer_does_not_hold_the_runs_output_open(tmp_path: Path) -> None:
    """A parent that dies without waiting (killed by CI) must not leave its reader waiting on
    a writer that still holds the output pipe."""
    import subprocess

    script = (
        "import os, time\n"
        "from pathlib import Path\n"
        "from sgplan.cachestore import SignedStore, background_writes, flush_writes\n"
        "with background_writes():\n"
        f"    SignedStore(Path({str(tmp_path)!r})).put_later('s.entry', lambda: time.sleep(20) or b'x')\n"
        "    flush_writes()\n"
        "    print('parent done', flush=True)\n"
        "    os._exit(0)  # as if killed: no wait for the writer\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "user-cache")}
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert proc.stdout == "parent done\n"
    assert time.monotonic() - start < 15  # not the writer's 20 s


def test_when_fork_fails_the_queue_is_written_here(tmp_path: Path, no_other_threads: None,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fork() -> int:
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(cachestore.os, "fork", no_fork, raising=False)
    store = SignedStore(tmp_path)
    with background_writes():
        store.put_later("f.entry", _pid_payload)
        flush_writes()
        assert store.get("f.entry") == str(os.getpid()).encode()


@linux_only
def test_a_child_writes_no_more_than_the_parent_would_through_a_planted_link(tmp_path: Path, no_other_threads: None) -> None:
    """A repository that plants `.sgplan` as a link out of the tree: the forked writer uses the
    same link-safe store, so nothing lands outside and the run goes on without the entry."""
    outside = tmp_path / "outside"
    outside.mkdir()
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".sgplan").symlink_to(outside, target_is_directory=True)
    store = SignedStore(repo)
    with background_writes():
        store.put_later("x.entry", lambda: b"payload")
        flush_writes()
    assert list(outside.iterdir()) == []
    assert store.get("x.entry") is None
