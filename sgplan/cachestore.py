"""A signed entry store in `<config dir>/.sgplan/cache/`, shared by the warm-run caches
(config/evaluated_cache.py, cloud/state_cache.py): the parse cache's per-user MAC key, MAC over
the entry's name and payload, and safe directory handling (config/cache.py, issue 12). A
missing, forged, corrupt or moved entry reads as None; writing is best-effort."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

import sgplan

from sgplan.hcl.cache import ParseCache

_MAC_SIZE = 32


class SignedStore:
    """Payloads by entry name, each stored as MAC + payload."""

    def __init__(self, directory: Path) -> None:
        self._store = ParseCache(directory)  # its key, MAC and link-safe directory handling

    def get(self, name: str) -> bytes | None:
        key = self._store._mac_key()
        if key is None:
            return None
        try:
            blob = self._store._read(name)
        except OSError:
            return None
        mac, payload = blob[:_MAC_SIZE], blob[_MAC_SIZE:]
        if not hmac.compare_digest(mac, self._store._mac(key, name, payload)):
            return None  # not written by this user under this name: ignored
        return payload

    def put(self, name: str, payload: bytes) -> None:
        key = self._store._mac_key()
        if key is None:
            return
        try:
            self._store._write(name, self._store._mac(key, name, payload) + payload)
        except Exception:  # best-effort by contract, like the parse cache
            return


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
