"""The signed entry store of `<config dir>/.sgplan/cache/`, shared by every cache there (the
parse cache hcl/cache.py, config/evaluated_cache.py, cloud/state_cache.py, the analysis memos).

A configuration directory may come from anyone (a cloned pull request), so (issue 12 §2, §8):
- each entry carries an HMAC, made with a per-user key from the user's private cache directory
  (safefs.user_cache_dir), over the entry's own name (what it stands for) and payload: an entry
  this user did not write, or one written under another name, reads as None;
- `.sgplan` and `.sgplan/cache` are opened without following symlinks and must be directories
  owned by the user; entries are read with O_NOFOLLOW and written as new files (O_EXCL, random
  name) renamed into place; `.sgplan/.gitignore` is only ever created, never opened for writing
  when something is already there. Anything unexpected skips the cache;
- payloads are the caller's plain data, decoded field by field by the caller; never pickle.
Reading never fails a run and writing is best-effort.

Writing a big entry is mostly encoding it (a cold plan of 2,000 groups spends ~0.8 s on the
parse and evaluated entries), and nothing in the run waits for the result. Inside
`background_writes()` (the CLI wraps every command in it), `put_later` queues an entry and
`flush_writes()` hands the queue to a forked child that encodes and writes it on the other
core while the run goes on; the block's exit writes what is still queued and waits for the
children (bounded: a stuck child is killed, its entry simply missing).
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Mapping

import sgplan
from sgplan import safefs

CACHE_DIR = Path(".sgplan") / "cache"
KEY_NAME = "parse-cache.key"  # the name predates the other caches; kept so existing keys stay valid
_MAC_SIZE = 32
_MAX_ENTRY = 512 * 1024 * 1024  # larger entry files are not read (a 64 MiB source makes less)


def cache_disabled(env: Mapping[str, str]) -> bool:
    return env.get("SGPLAN_NO_CACHE", "").strip().lower() not in ("", "0", "false", "no")


def _user_key() -> bytes | None:
    """The per-user MAC key from the user's private cache directory, created (0600) on first
    use; None when no private directory can be had (then there is no cache)."""
    directory = safefs.user_cache_dir()
    if directory is None:
        return None
    path = directory / KEY_NAME
    try:
        key = safefs.read_private(path, limit=4096)
        return key if len(key) >= 32 else None
    except FileNotFoundError:
        pass
    except OSError:
        return None
    try:
        fd = safefs.open_dir(directory)
        try:
            safefs.create_new(fd, KEY_NAME, os.urandom(32), 0o600)
        finally:
            os.close(fd)
        key = safefs.read_private(path, limit=4096)  # ours, or a concurrent run's
        return key if len(key) >= 32 else None
    except OSError:
        return None


class SignedStore:
    """Payloads by entry name under `directory / .sgplan/cache`, each stored as MAC + payload."""

    def __init__(self, directory: Path) -> None:
        self.root = Path(directory)
        self.directory = self.root / CACHE_DIR
        self._key: bytes | None = None
        self._key_loaded = False

    def usable(self) -> bool:
        """Whether there is a key to sign with (no private cache directory: no cache)."""
        return self._mac_key() is not None

    def get(self, name: str) -> bytes | None:
        """The payload stored under `name`, or None: missing, unreadable, or not signed by this
        user under this name."""
        key = self._mac_key()
        if key is None:
            return None
        try:
            blob = self._read(name)
        except OSError:
            return None
        mac, payload = blob[:_MAC_SIZE], blob[_MAC_SIZE:]
        if not hmac.compare_digest(mac, self._mac(key, name, payload)):
            return None
        return payload

    def put(self, name: str, payload: bytes) -> None:
        """Store `payload` under `name`; any failure (read-only directory, full disk, a symlink
        where the cache should be) is ignored."""
        key = self._mac_key()
        if key is None:
            return
        try:
            self._write(name, self._mac(key, name, payload) + payload)
        except Exception:  # best-effort by contract: a cache that cannot be written is skipped
            return

    def put_later(self, name: str, produce: Callable[[], bytes | None]) -> None:
        """Store `produce()` under `name` (nothing when it returns None or raises): at the next
        `flush_writes()` inside `background_writes()`, else now. `produce` must only read values
        that are not changed afterwards (a forked child runs it on a snapshot of the process)."""
        if self._mac_key() is None:  # the key is read (or made) here, never in a child
            return
        if _scope is None:
            self._put_produced(name, produce)
        else:
            _scope.pending.append((self, name, produce))

    def _put_produced(self, name: str, produce: Callable[[], bytes | None]) -> None:
        try:
            payload = produce()
        except Exception:  # an entry the codec does not cover is simply not cached
            return
        if payload is not None:
            self.put(name, payload)

    def _mac_key(self) -> bytes | None:
        if not self._key_loaded:
            self._key = _user_key()
            self._key_loaded = True
        return self._key

    @staticmethod
    def _mac(key: bytes, name: str, payload: bytes) -> bytes:
        """The entry's MAC: over its name and its payload, so a signed entry moved to another
        name is not accepted."""
        return hmac.new(key, name.encode() + b"\0" + payload, hashlib.sha256).digest()

    def _open_cache_dir(self, create: bool) -> int:
        """An fd of `.sgplan/cache`, each part opened without following links and owned by us."""
        base = os.open(self.root, os.O_RDONLY | safefs.O_DIRECTORY | safefs.O_CLOEXEC)
        try:
            dot = safefs.open_dir(CACHE_DIR.parent.name, dir_fd=base, create=create, mode=0o755)
        finally:
            os.close(base)
        try:
            if create:
                # Keep the cache out of version control without touching the user's .gitignore;
                # created only where nothing (not even a dangling link) is.
                safefs.create_new(dot, ".gitignore", b"*\n", 0o644)
            return safefs.open_dir(CACHE_DIR.name, dir_fd=dot, create=create, mode=0o755)
        finally:
            os.close(dot)

    def _read(self, name: str) -> bytes:
        fd = self._open_cache_dir(create=False)
        try:
            return safefs.read_bytes(name, dir_fd=fd, limit=_MAX_ENTRY)
        finally:
            os.close(fd)

    def _write(self, name: str, blob: bytes) -> None:
        fd = self._open_cache_dir(create=True)
        try:
            safefs.write_atomic(fd, name, blob, 0o600, durable=False)  # readers see the whole entry or none
        finally:
            os.close(fd)


# -- writes in the background ------------------------------------------------------------------

WAIT_SECONDS = 60.0  # how long the end of a run waits for its writers before killing them


class _Writes:
    """The entries queued in one `background_writes()` block, and the writers it started."""

    def __init__(self) -> None:
        self.pending: list[tuple[SignedStore, str, Callable[[], bytes | None]]] = []
        self.children: list[int] = []


_scope: _Writes | None = None


@contextmanager
def background_writes(wait: float = WAIT_SECONDS) -> Iterator[None]:
    """Let `put_later` entries be written by forked children at each `flush_writes()`; on exit,
    write what is still queued here and wait for the children (at most `wait` seconds, then
    kill them: a cache entry is never worth a hung run)."""
    global _scope
    outer, scope = _scope, _Writes()
    _scope = scope
    interrupted = False
    try:
        yield
    except KeyboardInterrupt:
        interrupted = True  # the user wants out: queue dropped, writers given a moment
        raise
    finally:
        _scope = outer
        batch, scope.pending = scope.pending, []
        if not interrupted:
            _write_here(batch)
        _reap(scope.children, 1.0 if interrupted else wait)


def flush_writes() -> None:
    """Start writing the queued entries: in a forked child when the platform allows one, else
    here and now. Outside `background_writes()` there is never a queue."""
    scope = _scope
    if scope is None or not scope.pending:
        return
    batch, scope.pending = scope.pending, []
    if not _may_fork():
        _write_here(batch)
        return
    try:
        pid = os.fork()
    except OSError:  # no memory or process slot for a child: write them here
        _write_here(batch)
        return
    if pid == 0:  # the child: write, then leave without running the parent's exit handlers
        try:
            gc.disable()  # it lives for a moment; a collection would only touch shared pages
            _detach()
            _write_here(batch)
        finally:
            os._exit(0)
    scope.children.append(pid)


def _write_here(batch: list[tuple[SignedStore, str, Callable[[], bytes | None]]]) -> None:
    for store, name, produce in batch:
        store._put_produced(name, produce)


def _detach() -> None:
    """In a writer: let go of the run's standard streams (whoever reads the run's output must
    see its end when the run ends, even if a writer outlived a killed parent) and die on its
    own if stuck past the parent's wait."""
    signal.alarm(int(WAIT_SECONDS) + 5)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def _may_fork() -> bool:
    """Only on Linux (fork is the documented default there) and with no other thread running:
    a thread could hold a lock the child would then wait on forever."""
    return sys.platform.startswith("linux") and hasattr(os, "fork") and threading.active_count() == 1


def _reap(children: list[int], wait: float) -> None:
    deadline = time.monotonic() + wait
    pause = 0.001
    for pid in children:
        while True:
            try:
                done, _status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # already reaped elsewhere
                break
            if done:
                break
            if time.monotonic() >= deadline:
                try:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass
                break
            time.sleep(pause)
            pause = min(pause * 2, 0.02)


def code_stamp() -> bytes:
    """sgplan's source files by path, size and mtime: a development checkout changes code
    without changing the version, and an entry made by other code must not be used."""
    global _STAMP
    if _STAMP is None:
        _STAMP = hashlib.sha256(_walk_code()).digest()
    return _STAMP


_STAMP: bytes | None = None


def _walk_code() -> bytes:
    root = Path(sgplan.__file__).parent
    parts = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith(".py"):
                st = os.stat(os.path.join(dirpath, name))
                parts.append(f"{dirpath}/{name}:{st.st_size}:{st.st_mtime_ns}")
    return "\n".join(parts).encode()
