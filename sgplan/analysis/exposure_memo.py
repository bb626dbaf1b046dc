"""Exposure differences remembered across runs (issue 18: analysis in proportion to the change).

`exposure.compare` stacks an instance's groups before and after and takes the difference only
where the two differ in access. That result depends on nothing but the ordered access keys of
the instance's groups on each side (`access.access_key`: every rule less its description and
position, references resolved), the direction and the templates; so it is stored under a
digest of exactly those, and a warm run recomputes only the instances whose content is new.

One signed entry per configuration directory (sgplan/cachestore.py, MAC'd like the parse
cache), holding the differences the latest run used: it never grows beyond one run's worth.
Decoded by schema (strings only); a forged or corrupt entry is simply empty.
"""

from __future__ import annotations

import hashlib
import marshal
import sys
from pathlib import Path
from typing import Any, Callable

import sgplan
from sgplan.cachestore import code_stamp

FORMAT = b"sgplan-exposure-memo-1"
_PLAIN = b"X"

Difference = list[tuple[tuple[str, str, str], str]]  # [((protocol, ports, peer), effect)]


def _entry_name() -> str:
    digest = hashlib.sha256(FORMAT + b"\0" + sgplan.__version__.encode() + b"\0" + sys.version.encode() + b"\0"
                            + code_stamp())
    return digest.hexdigest() + ".memo"


def _decode(payload: bytes) -> dict[bytes, Difference]:
    if payload[:1] != _PLAIN:
        return {}
    found: dict[bytes, Difference] = {}
    raw = marshal.loads(payload[1:])
    if type(raw) is not tuple:
        return {}
    for item in raw:
        if type(item) is not tuple or len(item) != 2 or type(item[0]) is not bytes or type(item[1]) is not tuple:
            return {}
        pieces: Difference = []
        for piece in item[1]:
            if (type(piece) is not tuple or len(piece) != 2 or type(piece[1]) is not str or type(piece[0]) is not tuple
                    or len(piece[0]) != 3 or not all(type(x) is str for x in piece[0])):
                return {}
            pieces.append((piece[0], piece[1]))
        found[item[0]] = pieces
    return found


class ExposureMemo:
    """Differences by content digest: read from the store once, written back after the run."""

    def __init__(self, directory: Path | None = None) -> None:
        self._directory = directory
        self._known: dict[bytes, Difference] = {}
        self._used: dict[bytes, Difference] = {}
        self._by_signature: dict[tuple[int, int], bytes] = {}
        self._evaluators: dict[int, Any] = {}
        self._fresh = False
        if directory is not None:
            from sgplan.cachestore import SignedStore

            payload = SignedStore(directory).get(_entry_name())
            if payload is not None:
                try:
                    self._known = _decode(payload)
                except Exception:  # not what this codec writes: start empty
                    self._known = {}

    def signature_digest(self, evaluator: Any, signature: int, access_key: Callable[[], tuple]) -> bytes:
        """The digest of the access key behind `evaluator`'s `signature` (computed once)."""
        memo = (id(evaluator), signature)
        found = self._by_signature.get(memo)
        if found is None:
            self._evaluators[id(evaluator)] = evaluator  # keeps the id theirs while the memo lives
            found = self._by_signature[memo] = hashlib.blake2b(marshal.dumps(access_key()), digest_size=16).digest()
        return found

    @staticmethod
    def key(direction: str, templates: bytes, before: list[bytes], after: list[bytes]) -> bytes:
        return hashlib.blake2b(b"|".join([direction.encode(), templates, b"".join(before), b"/", b"".join(after)]),
                               digest_size=20).digest()

    def get(self, key: bytes) -> Difference | None:
        found = self._known.get(key)
        if found is not None:
            self._used[key] = found
        return found

    def put(self, key: bytes, value: Difference) -> None:
        self._used[key] = value
        self._fresh = True

    def save(self) -> None:
        """Write back what this run used, when it computed anything new (best-effort)."""
        if self._directory is None or not (self._fresh or len(self._used) != len(self._known)):
            return
        from sgplan.cachestore import SignedStore

        try:
            payload = _PLAIN + marshal.dumps(tuple((k, tuple((tuple(p), e) for p, e in v))
                                                   for k, v in sorted(self._used.items())))
        except ValueError:
            return
        SignedStore(self._directory).put(_entry_name(), payload)


def templates_digest(templates: Any) -> bytes:
    """The templates an evaluator expands, as a digest (part of every key)."""
    addresses = tuple(sorted((k, tuple(v)) for k, v in getattr(templates, "addresses", {}).items()))
    services = tuple(sorted((k, tuple(v)) for k, v in getattr(templates, "services", {}).items()))
    return hashlib.blake2b(marshal.dumps((addresses, services)), digest_size=16).digest()
