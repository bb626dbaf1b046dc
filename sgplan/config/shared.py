"""What a module instance (config/instance.py) and the block builders it relies on
(config/template_blocks.py) share, in a module below both so that imports point one way:
instance → template_blocks → shared, never back.

- `FAILED`: the value of an attribute whose error is already reported.
- `MAX_EXPANSION`, `default_name`: the for_each/count instance limit and an expanded block's
  default name.
- `Instance`: the part of `ModuleInstance` a block builder uses (a structural type, so the
  builder needs no import of the class).
"""

from __future__ import annotations

import re
from typing import Any, Protocol

FAILED: Any = object()  # an attribute whose error is already reported

MAX_EXPANSION = 1000  # instances one for_each/count may make (each is evaluated and planned)


def default_name(label: str, key: Any) -> str:
    """An expanded block's name when it sets none: the label and key (`web-a`, `web-0`)."""
    return f"{label}-{key}"


# `[module.m["k"].]<type>.<label>[key]`: keys may hold dots, so an address is read from its end.
_RESOURCE = re.compile(r'(?:^|\.)(?P<type>[A-Za-z_][A-Za-z0-9_]*)\.(?P<label>[A-Za-z_][A-Za-z0-9_-]*)'
                       r'(?P<key>\[(?:\d+|"(?:[^"\\]|\\.)*")\])?$')


def resource_type(address: str) -> str | None:
    """The block type an address names: `module.m["a.b"].address_template.x["1.2"]` → address_template."""
    match = _RESOURCE.search(address)
    return match.group("type") if match else None


class Instance(Protocol):
    """A module instance as block builders see it (see config/instance.ModuleInstance)."""

    config: Any
    prefix: str
    ctx: Any
    _failed_expansions: set[int]

    def value(self, attr: Any) -> Any: ...

    def _required(self, attr: Any, key: str) -> Any: ...

    def expansion(self, block: Any, address: str) -> list[tuple[str, Any, dict[str, Any]]] | None: ...

    def keyed(self, names: dict[str, Any]) -> Any: ...
