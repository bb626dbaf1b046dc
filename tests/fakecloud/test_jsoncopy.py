"""copy_json is json.loads(json.dumps(value)) on every value, with a faster walk for plain data."""

from __future__ import annotations

import enum
import json
import math
from collections import OrderedDict
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sgplan.fakecloud.jsoncopy import copy_json


def round_trip(value: Any) -> Any:
    return json.loads(json.dumps(value))


def same(a: Any, b: Any) -> bool:
    """Equal with the same types all the way down (1 == 1.0 == True would hide a difference)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=30,
)


@given(plain)
def test_plain_data_copies_equal_the_round_trip_and_share_no_container(value: Any) -> None:
    copied = copy_json(value)
    assert same(copied, round_trip(value))
    originals = {id(x) for x in _containers(value)}
    assert not originals & {id(x) for x in _containers(copied)}


def _containers(value: Any) -> list[Any]:
    out, stack = [], [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (dict, list)):
            out.append(item)
            stack.extend(item.values() if isinstance(item, dict) else item)
    return out


class Number(enum.IntEnum):
    ONE = 1


class Text(str):
    pass


@pytest.mark.parametrize("value", [
    {"a": (1, 2)},                      # a tuple becomes a list
    {1: "x", "y": [None, True]},        # a key that is not text becomes text
    {"a": [Text("t")]},                 # a subclass becomes the plain type
    {"a": Number.ONE},
    OrderedDict(a=1),
    {"a": {"b": [float("inf"), -0.0]}},
    "\ud800",                           # a lone surrogate survives either way
])
def test_values_that_are_not_plain_take_the_round_trip(value: Any) -> None:
    assert same(copy_json(value), round_trip(value))


@pytest.mark.parametrize("value", [{"a": {1, 2}}, [object()], {"a": b"x"}])
def test_what_json_refuses_is_refused_alike(value: Any) -> None:
    with pytest.raises(TypeError):
        copy_json(value)
