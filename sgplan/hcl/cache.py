"""The parse cache: walked files (`Block` records plus walk diagnostics) stored in
`<config dir>/.sgplan/cache/`, keyed on the file's bytes and the sgplan, python-hcl2 and lark
versions, so an unchanged file is never parsed twice. Safe to delete; `SGPLAN_NO_CACHE=1` turns
it off. Reading never fails a run (a bad entry is parsed again) and writing is best-effort.

A configuration directory may come from anyone (a cloned pull request), so (issue 12 §2, §8):
entries are plain data only: `marshal` of tuples of builtins (Lark trees and tokens spelled out
as tuples too), checked field by field when decoded; never pickle. Signing, the per-user key and
the link-safe directory handling are the shared store's (sgplan/cachestore.py).
"""

from __future__ import annotations

import hashlib
import marshal
import sys
from pathlib import Path
from typing import Any

import lark
from lark import Token, Tree

import sgplan
from sgplan.cachestore import SignedStore
from sgplan.diagnostics import Diagnostic, Severity
from sgplan.hcl.nodes import Const, ListOf, Ref
from sgplan.hcl.parser import hcl2_version
from sgplan.hcl.syntax import Attribute, Block, SourceFile
from sgplan.model import SourceRange

FORMAT = b"sgplan-parse-cache-5"  # bump when Block/Attribute/compact nodes change shape
_CHUNK = 500  # top-level blocks per separately marshalled chunk
_PLAIN = b"M"  # first payload byte: the codec (the only one: marshal of plain tuples)
_CONST, _REF, _LIST, _TREE, _TOKEN = 0, 1, 2, 3, 4
_SCALARS = (str, int, float, bool, type(None))


class _NotPlain(Exception):
    """The walk holds something the codec does not cover (a range naming another file)."""


def encode_plain(body: Block, diags: list[Diagnostic], display: str) -> bytes:
    """`body` and `diags` as marshal of nested tuples of builtins; raises _NotPlain when a
    position names a file other than `display`."""

    def expr(node: Any) -> tuple:
        kind = type(node)
        if kind is Const:
            return (_CONST, node.value, node.line, node.column)
        if kind is Ref:
            return (_REF, node.names, node.line, node.column)
        if kind is ListOf:
            return (_LIST, tuple(expr(item) for item in node.items), node.line, node.column)
        if isinstance(node, Token):
            return (_TOKEN, node.type, str(node), node.start_pos, node.line, node.column, node.end_line,
                    node.end_column, node.end_pos)
        if isinstance(node, Tree):
            return (_TREE, str(node.data), tuple(expr(c) for c in node.children))
        raise _NotPlain

    def block(b: Block) -> tuple:
        r = b.range
        if r.file != display:
            raise _NotPlain
        attrs = []
        for name, e, file, line, column in b.attributes.values():  # Attribute is a tuple (load.py)
            if file != display:
                raise _NotPlain
            if type(e) is Const:  # the common case, flat: (name, line, column, value, vline, vcolumn)
                attrs.append((name, line, column, e.value, e.line, e.column))
            else:
                attrs.append((name, line, column, expr(e)))
        return (b.type, b.labels, tuple(attrs), tuple([block(c) for c in b.blocks]), r.line, r.column)

    plain_diags = []
    for d in diags:
        r = d.range
        if r is not None and r.file != display:
            raise _NotPlain
        plain_diags.append((d.severity.value, d.message, None if r is None else (r.line, r.column), d.address))
    # The top-level blocks go in chunks, each marshalled on its own: the tuples of one chunk are
    # all that exists at a time, instead of a second copy of the whole walk (~90 MB at the
    # 2,000-group benchmark estate, the peak of a cold plan).
    try:
        head = block(Block(body.type, body.labels, body.attributes, (), body.range))
        chunks = tuple(marshal.dumps(tuple([block(c) for c in body.blocks[i : i + _CHUNK]]))
                       for i in range(0, len(body.blocks), _CHUNK))
        return marshal.dumps((head, chunks, tuple(plain_diags)))
    except RecursionError:
        raise _NotPlain from None


class _Bad(ValueError):
    """An entry that does not have the shape the codec writes."""


def _want(value: Any, *types: type) -> Any:
    if type(value) not in types:
        raise _Bad(f"unexpected {type(value).__name__}")
    return value


def _int_or_none(value: Any) -> int | None:
    return _want(value, int, type(None))


def _plain_value(value: Any) -> Any:
    """A literal's value: builtins only (no code objects, sets, bytes, ... from marshal)."""
    if type(value) in _SCALARS:
        return value
    if type(value) is list:
        return [_plain_value(v) for v in value]
    if type(value) is dict:
        return {_want(k, str): _plain_value(v) for k, v in value.items()}
    raise _Bad(f"unexpected {type(value).__name__}")


def decode_plain(payload: bytes, display: str) -> tuple[Block, list[Diagnostic]]:
    """The inverse of `encode_plain`, with every range naming `display`; raises on anything
    but exactly the shapes `encode_plain` writes."""
    outer = _want(marshal.loads(payload), tuple)
    if len(outer) != 3:
        raise _Bad("unexpected entry")
    plain_head, chunks, plain_diags = outer

    def expr(t: Any) -> Any:
        kind = _want(t, tuple)[0]
        if kind == _CONST:
            _, value, line, column = t
            return Const(_plain_value(value), _want(line, int), _want(column, int))
        if kind == _REF:
            _, names, line, column = t
            return Ref(tuple(_want(n, str) for n in _want(names, tuple)), _want(line, int), _want(column, int))
        if kind == _LIST:
            _, items, line, column = t
            return ListOf(tuple(expr(i) for i in _want(items, tuple)), _want(line, int), _want(column, int))
        if kind == _TREE:
            _, data, children = t
            return Tree(_want(data, str), [expr(c) for c in _want(children, tuple)])
        if kind == _TOKEN:
            _, type_, value, start, line, column, end_line, end_column, end_pos = t
            return Token(_want(type_, str), _want(value, str), _int_or_none(start), _int_or_none(line),
                         _int_or_none(column), _int_or_none(end_line), _int_or_none(end_column), _int_or_none(end_pos))
        raise _Bad("unexpected node kind")

    new_attribute = tuple.__new__

    def block(t: Any) -> Block:
        if type(t) is not tuple or len(t) != 6:
            raise _Bad("unexpected block")
        type_, labels, attrs, blocks, line, column = t
        if type(type_) is not str or type(line) is not int or type(column) is not int:
            raise _Bad("unexpected block fields")
        attributes = {}
        for a in _want(attrs, tuple):
            if type(a) is not tuple:
                raise _Bad("unexpected attribute")
            if len(a) == 6:
                name, al, ac, value, vl, vc = a
                if type(value) not in _SCALARS:
                    value = _plain_value(value)
                if type(vl) is not int or type(vc) is not int:
                    raise _Bad("unexpected position")
                e = Const(value, vl, vc)
            elif len(a) == 4:
                name, al, ac, plain = a
                e = expr(plain)
            else:
                raise _Bad("unexpected attribute")
            if type(name) is not str or type(al) is not int or type(ac) is not int:
                raise _Bad("unexpected attribute fields")
            attributes[name] = new_attribute(Attribute, (name, e, display, al, ac))
        return Block(type_, tuple([_want(x, str) for x in _want(labels, tuple)]), attributes,
                     tuple([block(c) for c in _want(blocks, tuple)]), SourceRange(display, line, column))

    diags = []
    for d in _want(plain_diags, tuple):
        sev, message, at, address = _want(d, tuple)
        where = None if at is None else SourceRange(display, *(_want(x, int) for x in _want(at, tuple)))
        diags.append(Diagnostic(Severity(_want(sev, str)), _want(message, str), where, _want(address, str, type(None))))
    head = block(plain_head)
    if head.blocks:
        raise _Bad("unexpected top-level body")
    children = [block(t) for chunk in _want(chunks, tuple) for t in _want(marshal.loads(_want(chunk, bytes)), tuple)]
    return Block(head.type, head.labels, head.attributes, tuple(children), head.range), diags


class ParseCache:
    """Walked files by content hash, under `directory / .sgplan/cache` (a `SignedStore`)."""

    def __init__(self, directory: Path) -> None:
        self.store = SignedStore(directory)
        self.directory = self.store.directory
        self.hits = 0
        self.misses = 0

    @staticmethod
    def entry_name(data: bytes) -> str:
        digest = hashlib.sha256()
        for part in (FORMAT, sgplan.__version__.encode(), hcl2_version().encode(), lark.__version__.encode(),
                     f"{sys.version_info[0]}.{sys.version_info[1]}".encode()):
            digest.update(part + b"\0")
        digest.update(data)
        return digest.hexdigest() + ".entry"

    def get(self, data: bytes, display: str) -> tuple[SourceFile, list[Diagnostic]] | None:
        """The cached walk of `data` (positions naming `display`), or None on a miss or a bad entry."""
        if not self.store.usable():
            return None
        payload = self.store.get(self.entry_name(data))
        try:
            if payload is None:
                raise _Bad("no entry written by this user for this content")
            if payload[:1] != _PLAIN:
                raise _Bad("unknown entry codec")
            body, diags = decode_plain(payload[1:], display)
        except Exception:  # missing, corrupt or foreign: parse again (and overwrite it)
            self.misses += 1
            return None
        self.hits += 1
        return SourceFile(display, data, body), diags

    def put(self, source: SourceFile, diags: list[Diagnostic]) -> None:
        """Store a successfully walked file (best-effort, like every write to the store)."""
        if source.body is None:
            return
        body, kept, display = source.body, list(diags), source.path

        def produce() -> bytes:  # raises when the codec does not cover this walk (e.g. _NotPlain): not cached
            return _PLAIN + encode_plain(body, kept, display)

        # Encoding a big walk costs about a third of parsing it: done by the background writer
        # when the run has one (cachestore.background_writes).
        self.store.put_later(self.entry_name(source.data), produce)
