"""`--cloud file:PATH`: the fake engine running in-process on a state file (DESIGN §4).

Two kinds of client (docs/fake-cloud-hardening.md has the lock protocol):
- read-only (`for_apply=False`: plan, check, explain, import, snapshot): the file must exist; it
  is read under a shared lock held only for the read; writes are refused and nothing is ever
  written.
- apply (`for_apply=True`): an exclusive lock on the sibling `.NAME.lock` is held from reading
  the state until `close()` has written it back, so two applies on one file take turns instead
  of losing each other's changes. A missing file is created (empty state for the region).

Writes are atomic (snapshot.write_state): a temp file created exclusively in the same directory,
then os.replace; neither the state file nor the lock file is ever opened through a symlink.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from pathlib import Path
from typing import Any, Callable

from sgplan.cloud.base import CloudError
from sgplan.cloud.snapshot import (
    StateDocument,
    empty_state,
    invalid_state,
    parse_state,
    read_document,
    read_state_bytes,
    shown,
    write_state,
)
from sgplan.collector import gc_paused
from sgplan.diagnostics import UserError
from sgplan.fakecloud.engine import MUTATING_ACTIONS, Engine

LOCK_TIMEOUT = 60.0  # seconds to wait for another apply (or a reader) before giving up


def lock_path(path: Path) -> Path:
    """The lock file of a state file: a hidden sibling, so it shares the directory's permissions."""
    return path.parent / f".{path.name}.lock"


class StateLock:
    """An flock(2) on a state file's lock file; released by `release()` or when the process ends.

    The lock file is never replaced (the state file is, by every write), so all processes lock
    the same inode. flock locks belong to the open file description: two threads that each
    acquire one exclude each other like two processes do.
    """

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    @classmethod
    def exclusive(cls, path: Path, timeout: float = LOCK_TIMEOUT) -> "StateLock":
        """Create (if needed) and lock the lock file of `path` for writing."""
        target = lock_path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # 0644: readers on other accounts take their shared lock through an O_RDONLY descriptor.
            fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise _lock_error(target, "cannot create the lock file", exc) from None
        return cls._locked(fd, target, path, fcntl.LOCK_EX, timeout)

    @classmethod
    def shared(cls, path: Path, timeout: float = LOCK_TIMEOUT) -> "StateLock | None":
        """Lock for reading, or None when there is no lock file or it is not ours to read.

        Readers never create it: every write is an atomic replace, so a read without the lock
        still sees one whole version of the file; the lock only makes a plan wait for an apply
        that is running, instead of reading the state from before it.
        """
        target = lock_path(path)
        try:
            fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except (FileNotFoundError, PermissionError):
            return None
        except OSError as exc:
            raise _lock_error(target, "cannot open the lock file", exc) from None
        return cls._locked(fd, target, path, fcntl.LOCK_SH, timeout)

    @classmethod
    def _locked(cls, fd: int, target: Path, path: Path, mode: int, timeout: float) -> "StateLock":
        lock = cls(fd)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise UserError(f"{shown(target)}: the lock file is not a regular file; remove it")
            _wait_for(fd, mode, timeout, path)
        except BaseException:
            lock.release()
            raise
        return lock

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the last descriptor drops the flock

    def __del__(self) -> None:
        self.release()


def _wait_for(fd: int, mode: int, timeout: float, path: Path) -> None:
    """Poll a non-blocking flock until `timeout` (a blocking one could not be given up)."""
    deadline = time.monotonic() + timeout
    pause = 0.002
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        if time.monotonic() >= deadline:
            raise UserError(f"{shown(path)}: the state file is locked by a running `sgplan apply` "
                            f"(waited {timeout:g} s); try again when it has finished")
        time.sleep(pause)
        pause = min(pause * 1.5, 0.1)


def _lock_error(target: Path, doing: str, exc: OSError) -> UserError:
    if exc.errno == errno.ELOOP:
        return UserError(f"{shown(target)}: the lock file is a symbolic link; remove it")
    return UserError(f"{shown(target)}: {doing} ({exc.strerror or exc})")


class FileCloud:
    """An ApiClient over `Engine` whose state lives in a JSON file."""

    def __init__(
        self,
        path: Path | str,
        region: str | None = None,
        *,
        for_apply: bool = False,
        clock: Callable[[], float] = time.time,
        bind_delay: float = 0.0,
        rng_seed: int | None = None,
        lock_timeout: float = LOCK_TIMEOUT,
        lazy: bool = False,
    ) -> None:
        self.path = Path(path)
        self.for_apply = for_apply
        self.calls = 0
        self.retries = 0  # nothing to retry in-process; kept for the ApiClient protocol
        self._lock: StateLock | None = None
        self._closed = False
        # `lazy` (read-only clients): read the bytes now, under the shared lock, and parse them
        # only when something asks for the engine or the region. A warm plan whose live state
        # comes from the state cache (state_cache.py, keyed on these bytes) never parses them.
        self.state_bytes: bytes | None = None
        self._pending: tuple | None = None
        if lazy and not for_apply:
            lock = StateLock.shared(self.path, lock_timeout)
            try:
                self.state_bytes = read_state_bytes(self.path, missing_ok=False)
            finally:
                if lock is not None:
                    lock.release()
            self._pending = (region, clock, bind_delay, rng_seed)
            return
        self._open(region, clock, bind_delay, rng_seed, lock_timeout)

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes not set yet: the engine, region and document of a lazy client.
        pending = self.__dict__.get("_pending")
        if pending is None or name not in ("engine", "region", "_document"):
            raise AttributeError(name)
        region, clock, bind_delay, rng_seed = pending
        # Parsing and normalising build no cycles: with the collector running, the parsed file's
        # ~10^5 containers set off a few hundred collections (~0.1 s at 200,000 rules).
        with gc_paused():
            try:
                document = StateDocument.parse(parse_state(self.state_bytes))
            except ValueError as exc:
                raise invalid_state(self.path, exc) from None  # again on the next use: still pending
            self._document = document
            self._build(region, clock, bind_delay, rng_seed)
        self._pending = None
        return getattr(self, name)

    def _open(self, region: str | None, clock: Callable[[], float], bind_delay: float, rng_seed: int | None,
              lock_timeout: float) -> None:
        try:
            with gc_paused():  # (as in __getattr__: parsing and normalising make no cycles)
                document = self._read(lock_timeout)
                created = document is None
                self._document = document or StateDocument({"": empty_state(region or "")}, multi=False)
                self._build(region, clock, bind_delay, rng_seed)
            if created:
                self._write()  # apply creates a missing file at once, while it holds the lock
        except BaseException:
            self._release()
            raise

    def _build(self, region: str | None, clock: Callable[[], float], bind_delay: float, rng_seed: int | None) -> None:
        self.region, raw = self._select(region)
        # The file's JSON goes to the engine as read: the engine normalises it (once) into
        # its own structures (issue 8). (Both callers hold the collector: gc_paused.)
        try:
            self.engine = Engine(raw, clock=clock, bind_delay=bind_delay, rng_seed=rng_seed)
        except ValueError as exc:
            raise invalid_state(self.path, exc, self._document.field_prefix(self.region)) from None
        del raw
        if not self.for_apply:
            # Only an apply writes the document back; a read-only client keeps just the engine's
            # normalised copy (the parsed file is the largest thing a plan holds: ~150 MB at
            # 200,000 rules).
            self._document = None

    def _read(self, lock_timeout: float) -> StateDocument | None:
        """The file's regions: under the exclusive lock (kept) for apply, else a shared one (dropped)."""
        if self.for_apply:
            self._lock = StateLock.exclusive(self.path, lock_timeout)
            return read_document(self.path, missing_ok=True)
        lock = StateLock.shared(self.path, lock_timeout)
        try:
            return read_document(self.path, missing_ok=False)
        finally:
            if lock is not None:
                lock.release()

    def _select(self, region: str | None) -> tuple[str, dict[str, Any]]:
        try:
            return self._document.select(region)
        except ValueError as exc:
            raise invalid_state(self.path, exc) from None

    def call(self, service: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run one action on the engine; CloudError propagates as the API would raise it."""
        self.calls += 1
        if action in MUTATING_ACTIONS and not self.for_apply:
            # Whatever a read-only client changed would be thrown away at close(): refuse instead.
            raise CloudError("UnauthorizedOperation", f"{action}: the state file {shown(self.path)} is open "
                             "read-only (only `sgplan apply` writes it)")
        if self._closed and action in MUTATING_ACTIONS:  # the state was written back already
            raise CloudError("UnsupportedOperation", f"{action}: the state file {shown(self.path)} is closed")
        return self.engine.handle(service, action, params)

    def close(self) -> None:
        """Write the state back (atomically) if a call changed it, then drop the lock; safe twice."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.for_apply and self.engine.changed:  # (an apply client is never lazy)
                self._write()
        finally:
            self._release()

    def _write(self) -> None:
        write_state(self.path, self._document.with_region(self.region, self.engine.state))
        self.engine.changed = False

    def _release(self) -> None:
        if self._lock is not None:
            lock, self._lock = self._lock, None
            lock.release()

    def __enter__(self) -> "FileCloud":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
