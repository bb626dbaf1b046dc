"""The parse cache: walked files (`Block` records plus walk diagnostics) stored in
`<config dir>/.sgplan/cache/`, keyed on the file's bytes and the sgplan, python-hcl2 and lark
versions, so an unchanged file is never parsed twice. Safe to delete; `SGPLAN_NO_CACHE=1` turns
it off. Reading never fails a run (a bad entry is parsed again) and writing is best-effort.

Files made only of compact nodes (every fast-path file) are stored as `marshal` of plain
tuples: pickling 700k lines of records cost more than parsing them (6.6 s against 4 s), marshal
of tuples costs ~0.3 s. Files holding Lark trees fall back to pickle. A configuration directory
may come from anyone (a cloned repository), so each entry carries an HMAC made with a per-user
key kept in the user's cache directory: an entry this user did not write is never decoded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import io
import marshal
import os
import pickle
import secrets
import sys
from pathlib import Path
from typing import Any, Mapping

import lark

import sgplan
from sgplan.config.load import Attribute, Block, SourceFile
from sgplan.config.parser import hcl2_version
from sgplan.config.nodes import Const, ListOf, Ref
from sgplan.diagnostics import Diagnostic, Severity
from sgplan.model import SourceRange

FORMAT = b"sgplan-parse-cache-2"  # bump when Block/Attribute/compact nodes change shape
CACHE_DIR = Path(".sgplan") / "cache"
_MAC_SIZE = 32
_FILE = "file"  # persistent id standing for the file's display name (set again on load)
# Dataclasses pickle through a slow Python `__setstate__` (it calls `fields()` per object);
# rebuilding them from constructor arguments loads the cache about three times faster.
_BY_ARGS = (SourceRange, Attribute, Block, SourceFile, Diagnostic)
# First payload byte: which codec wrote the entry.
_PLAIN, _PICKLED = b"M", b"P"
_CONST, _REF, _LIST = 0, 1, 2


class _NotPlain(Exception):
    """The walk holds something the plain codec does not cover (a Lark tree, a foreign range)."""


def encode_plain(body: Block, diags: list[Diagnostic], display: str) -> bytes:
    """`body` and `diags` as marshal of nested tuples; raises _NotPlain for trees."""

    def expr(node: Any) -> tuple:
        kind = type(node)
        if kind is Const:
            return (_CONST, node.value, node.line, node.column)
        if kind is Ref:
            return (_REF, node.names, node.line, node.column)
        if kind is ListOf:
            return (_LIST, tuple(expr(item) for item in node.items), node.line, node.column)
        raise _NotPlain

    def block(b: Block) -> tuple:
        r = b.range
        if r.file != display:
            raise _NotPlain
        attrs = []
        for a in b.attributes.values():
            ar = a.range
            if ar.file != display:
                raise _NotPlain
            attrs.append((a.name, expr(a.expr), ar.line, ar.column))
        return (b.type, b.labels, tuple(attrs), tuple(block(c) for c in b.blocks), r.line, r.column)

    plain_diags = []
    for d in diags:
        r = d.range
        if r is not None and r.file != display:
            raise _NotPlain
        plain_diags.append((d.severity.value, d.message, None if r is None else (r.line, r.column), d.address))
    return marshal.dumps((block(body), tuple(plain_diags)))


def decode_plain(payload: bytes, display: str) -> tuple[Block, list[Diagnostic]]:
    """The inverse of `encode_plain`, with every range naming `display`."""
    plain_body, plain_diags = marshal.loads(payload)

    def expr(t: tuple) -> Any:
        kind, value, line, column = t
        if kind == _CONST:
            return Const(value, line, column)
        if kind == _REF:
            return Ref(value, line, column)
        if kind == _LIST:
            return ListOf(tuple(expr(item) for item in value), line, column)
        raise ValueError("unexpected node kind")

    def block(t: tuple) -> Block:
        type_, labels, attrs, blocks, line, column = t
        attributes = {name: Attribute(name, expr(e), SourceRange(display, al, ac)) for name, e, al, ac in attrs}
        return Block(type_, labels, attributes, tuple([block(c) for c in blocks]), SourceRange(display, line, column))

    diags = [Diagnostic(Severity(sev), message, None if at is None else SourceRange(display, *at), address)
             for sev, message, at, address in plain_diags]
    return block(plain_body), diags


def cache_disabled(env: Mapping[str, str]) -> bool:
    return env.get("SGPLAN_NO_CACHE", "").strip().lower() not in ("", "0", "false", "no")


def user_key_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sgplan" / "parse-cache.key"


def _user_key(path: Path) -> bytes | None:
    """The per-user MAC key, created (mode 0600) on first use; None when it cannot be had."""
    try:
        key = path.read_bytes()
        return key if len(key) >= 32 else None
    except FileNotFoundError:
        pass
    except OSError:
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
        return path.read_bytes()
    except FileExistsError:  # another process made it meanwhile
        try:
            return path.read_bytes()
        except OSError:
            return None
    except OSError:
        return None


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, display: str) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._display = display

    def persistent_id(self, obj: Any) -> str | None:
        return _FILE if obj is self._display else None

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) in _BY_ARGS:
            return type(obj), tuple(getattr(obj, f.name) for f in dataclasses.fields(obj))
        return NotImplemented


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, display: str) -> None:
        super().__init__(file)
        self._display = display

    def persistent_load(self, pid: Any) -> Any:
        if pid != _FILE:
            raise pickle.UnpicklingError("unexpected persistent id")
        return self._display


class ParseCache:
    """Walked files by content hash, under `directory / .sgplan/cache`."""

    def __init__(self, directory: Path, key_file: Path | None = None) -> None:
        self.directory = Path(directory) / CACHE_DIR
        self._key_file = key_file or user_key_file()
        self._key: bytes | None = None
        self._key_loaded = False
        self.hits = 0
        self.misses = 0

    def _mac_key(self) -> bytes | None:
        if not self._key_loaded:
            self._key = _user_key(self._key_file)
            self._key_loaded = True
        return self._key

    @staticmethod
    def entry_name(data: bytes) -> str:
        digest = hashlib.sha256()
        for part in (FORMAT, sgplan.__version__.encode(), hcl2_version().encode(), lark.__version__.encode(),
                     f"{sys.version_info[0]}.{sys.version_info[1]}".encode()):
            digest.update(part + b"\0")
        digest.update(data)
        return digest.hexdigest() + ".pickle"

    def get(self, data: bytes, display: str) -> tuple[SourceFile, list[Diagnostic]] | None:
        """The cached walk of `data` (positions naming `display`), or None on a miss or a bad entry."""
        key = self._mac_key()
        if key is None:
            return None
        try:
            blob = (self.directory / self.entry_name(data)).read_bytes()
        except OSError:
            self.misses += 1
            return None
        try:
            mac, payload = blob[:_MAC_SIZE], blob[_MAC_SIZE:]
            if not hmac.compare_digest(mac, hmac.new(key, payload, hashlib.sha256).digest()):
                raise ValueError("entry not written by this user")
            codec, payload = payload[:1], payload[1:]
            if codec == _PLAIN:
                body, diags = decode_plain(payload, display)
            elif codec == _PICKLED:
                body, diags = _Unpickler(io.BytesIO(payload), display).load()
            else:
                raise ValueError("unknown entry codec")
            if not isinstance(body, Block) or not isinstance(diags, list):
                raise ValueError("unexpected entry shape")
        except Exception:  # a corrupt or foreign entry: parse again (and overwrite it)
            self.misses += 1
            return None
        self.hits += 1
        return SourceFile(display, data, body), diags

    def put(self, source: SourceFile, diags: list[Diagnostic]) -> None:
        """Store a successfully walked file; any failure (read-only directory, full disk) is ignored."""
        key = self._mac_key()
        if key is None or source.body is None:
            return
        try:
            try:
                payload = _PLAIN + encode_plain(source.body, diags, source.path)
            except _NotPlain:
                buffer = io.BytesIO(_PICKLED)
                buffer.seek(1)
                _Pickler(buffer, source.path).dump((source.body, diags))
                payload = buffer.getvalue()
            self._write(self.entry_name(source.data), hmac.new(key, payload, hashlib.sha256).digest() + payload)
        except Exception:  # best-effort by contract: a cache that cannot be written is skipped
            return

    def _write(self, name: str, blob: bytes) -> None:
        if not self.directory.is_dir():
            self.directory.mkdir(parents=True, exist_ok=True)
            # Keep the cache out of version control without touching the user's .gitignore.
            (self.directory.parent / ".gitignore").write_text("*\n")
        target = self.directory / name
        tmp = target.with_name(f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            tmp.write_bytes(blob)
            os.replace(tmp, target)  # readers see the whole entry or none
        finally:
            if tmp.exists():
                tmp.unlink()
