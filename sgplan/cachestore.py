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
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path
from typing import Mapping

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
