"""A signed entry store in `<config dir>/.sgplan/cache/`, shared by the warm-run caches
(config/evaluated_cache.py, cloud/state_cache.py): the parse cache's per-user MAC key, MAC over
the entry's name and payload, and safe directory handling (config/cache.py, issue 12). A
missing, forged, corrupt or moved entry reads as None; writing is best-effort."""

from __future__ import annotations

import hmac
from pathlib import Path

from sgplan.config.cache import ParseCache

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
