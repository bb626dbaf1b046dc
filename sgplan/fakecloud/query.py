"""Request plumbing the fake's Describe actions share: Offset/Limit paging, Filters, id lists.

Error codes follow reference/tencentcloud-sg-api.md §2.3 (VPC) and §3.4 (CVM).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence, TypeVar

from sgplan.cloud.base import CloudError

T = TypeVar("T")
MAX_PAGE = 100
DEFAULT_PAGE = 20


def _number(value: Any, name: str, *, text_ok: bool, range_code: str = "InvalidParameterValue.Range") -> int:
    # VPC types Offset/Limit as String but the SDK sends whatever Python type it was given (§2.3):
    # accept both there. CVM types them as Integer (§3.4), so a string is a client bug.
    if isinstance(value, bool):
        raise CloudError("InvalidParameterValue", f"{name} must be an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and text_ok and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
    else:
        raise CloudError("InvalidParameterValue", f"{name} {value!r} is not an integer")
    if number < 0:
        raise CloudError(range_code, f"{name} {number} is negative")
    return number


def page(params: Mapping[str, Any], items: Sequence[T], *, text_ok: bool = True,
         range_code: str = "InvalidParameterValue.Range") -> tuple[list[T], int]:
    """The slice of `items` that Offset/Limit select (default 0/20, Limit at most 100), and TotalCount."""
    offset = 0 if params.get("Offset") in (None, "") else _number(params["Offset"], "Offset", text_ok=text_ok,
                                                                  range_code=range_code)
    limit = DEFAULT_PAGE if params.get("Limit") in (None, "") else _number(params["Limit"], "Limit", text_ok=text_ok,
                                                                           range_code=range_code)
    if limit > MAX_PAGE:
        raise CloudError(range_code, f"Limit {limit} is above the maximum of {MAX_PAGE}")
    return list(items[offset : offset + limit]), len(items)


def filters(
    params: Mapping[str, Any],
    names: frozenset[str],
    *,
    invalid_key: str = "InvalidParameter.FilterInvalidKey",
    max_filters: int | None = None,
    max_values: int | None = None,
    shape_error: str | None = None,
) -> list[tuple[str, list[str]]]:
    """`Filters` as (name, values) pairs; names outside `names` (or `tag:<key>`) are rejected.

    Filters are ANDed and the values inside one filter ORed (§1.6).
    """
    raw = params.get("Filters")
    if raw in (None, []):
        return []
    # `shape_error`: the code for a malformed filter where the action's list has no Filter* codes.
    if not isinstance(raw, list):
        raise CloudError(shape_error or "InvalidParameter.FilterNotDict", "Filters must be a list of {Name, Values}")
    if max_filters is not None and len(raw) > max_filters:
        raise CloudError("InvalidParameterValue.LimitExceeded", f"at most {max_filters} filters per request")
    out = []
    for item in raw:
        if not isinstance(item, Mapping) or "Name" not in item:
            raise CloudError(shape_error or "InvalidParameter.FilterNotDict",
                             "each filter must be an object with Name and Values")
        name = str(item["Name"])
        values = item.get("Values")
        if not isinstance(values, list):
            raise CloudError(shape_error or "InvalidParameter.FilterValuesNotList",
                             f"Values of filter {name!r} must be a list")
        if name not in names and not (name.startswith("tag:") and len(name) > 4):
            raise CloudError(invalid_key, f"unknown filter {name!r}")
        if max_values is not None and len(values) > max_values:
            raise CloudError("InvalidFilterValue.LimitExceeded", f"at most {max_values} values in filter {name!r}")
        out.append((name, [str(v) for v in values]))
    return out


def id_list(params: Mapping[str, Any], name: str, *, required: bool = False, limit: int = MAX_PAGE,
            malformed: str = "InvalidParameterValue.Malformed") -> list[str]:
    """A list-of-ids parameter, at most `limit` long; MissingParameter when required and absent."""
    raw = params.get(name)
    if raw in (None, []):
        if required:
            raise CloudError("MissingParameter", f"{name} is required")
        return []
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise CloudError(malformed, f"{name} must be a list of strings")
    if len(raw) > limit:
        raise CloudError("InvalidParameterValue.LimitExceeded", f"at most {limit} entries in {name}")
    return list(dict.fromkeys(raw))


def tags_match(tags: Sequence[Mapping[str, str]], name: str, values: Sequence[str]) -> bool:
    """The tag filters both services share: `tag-key`, `tag-value` and `tag:<key>`."""
    if name == "tag-key":
        return any(t["Key"] in values for t in tags)
    if name == "tag-value":
        return any(t["Value"] in values for t in tags)
    key = name[4:]
    return any(t["Key"] == key and t["Value"] in values for t in tags)
