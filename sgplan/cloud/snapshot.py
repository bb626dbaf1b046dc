"""The state-file format (DESIGN §4): validate, normalise, read and write safely, and record one from any cloud.

A state file is untrusted input (issue 12 §10): every field is checked for shape and a problem is
a one-line `PATH: field: message` UserError, never a silent misread or an internal error. Files
are read without following a symbolic link and written atomically (a temp file created
exclusively in the same directory, then os.replace); docs/fake-cloud-hardening.md has the rules.

`snapshot(client)` reads every group, rule, instance and template through the API, so running the
fake on its result (`--cloud file:`) reproduces the same plan.
"""

from __future__ import annotations

import errno
import json
import math
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, NoReturn

from sgplan.cloud.base import ApiClient, CloudError
from sgplan.cloud.policy import answer, check_policy
from sgplan.diagnostics import UserError

TEMPLATE_LISTS = ("AddressTemplates", "AddressTemplateGroups", "ServiceTemplates", "ServiceTemplateGroups")
# Instance fields that describe a running operation, not the estate: never recorded.
_RUNTIME_INSTANCE_FIELDS = frozenset(
    {"LatestOperation", "LatestOperationState", "LatestOperationRequestId", "LatestOperationErrorMsg"}
)

# Limits (documented in docs/fake-cloud-hardening.md).
MAX_STATE_BYTES = 256 * 1024 * 1024  # a 2,000-group estate is a few MB
MAX_EXTRA_DEPTH = 16  # nesting of kept free-form fields (instance and template extras)
MAX_VERSION_DIGITS = 18  # a policy Version the engine can count up (int() is bounded at 4,300 digits)
MAX_LIMIT = 10**9
_TOP_LEVEL = frozenset({"Region", "SecurityGroups", "Instances", "Limits", "OtherAssociations", *TEMPLATE_LISTS})
# Resources other than CVM instances that may carry security groups (the kinds that
# DescribeSecurityGroupAssociationStatistics counts, vpc api.json SecurityGroupAssociationStatistics).
ASSOCIATION_TYPES = frozenset({"CLB", "CDB", "ENI"})
_GROUP_FIELDS = frozenset({
    "SecurityGroupId", "SecurityGroupName", "SecurityGroupDesc", "ProjectId", "IsDefault",
    "CreatedTime", "UpdateTime", "TagSet", "SecurityGroupPolicySet",
})
_RULE_TEXT_FIELDS = (
    "Protocol", "CidrBlock", "Ipv6CidrBlock", "SecurityGroupId", "Action", "PolicyDescription", "ModifyTime",
    "Priority",
)


def empty_state(region: str = "") -> dict[str, Any]:
    """A valid state with nothing in it."""
    return {"Region": region, "SecurityGroups": [], "Instances": [], **{name: [] for name in TEMPLATE_LISTS}}


# ---------------------------------------------------------------------------------------------
# Shape checks: every problem is `field: message` (the caller puts the path in front)


def _fail(where: str, message: str) -> NoReturn:
    raise ValueError(f"{where}: {message}")


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _text(raw: Mapping[str, Any], key: str, where: str) -> str:
    """An optional text field: a string, or null/absent for ""."""
    value = raw.get(key)
    if value is None:
        return ""
    if type(value) is not str:
        _fail(f"{_at(where, key)}", f"must be a string, not {_kind(value)}")
    return value


def _list(raw: Mapping[str, Any], key: str, where: str) -> list[Any]:
    """An optional list field: a list, or null/absent for []."""
    value = raw.get(key)
    if value is None:
        return []
    if type(value) is not list:
        _fail(f"{_at(where, key)}", f"must be a list, not {_kind(value)}")
    return value


def _text_list(raw: Mapping[str, Any], key: str, where: str) -> list[str]:
    items = _list(raw, key, where)
    for n, item in enumerate(items):
        if type(item) is not str:
            _fail(f"{_at(where, key)}[{n}]", f"must be a string, not {_kind(item)}")
    return items


def _object(value: Any, where: str) -> Mapping[str, Any]:
    # (`type is dict` first: isinstance against typing's Mapping goes through two slow hooks)
    if type(value) is not dict and not isinstance(value, Mapping):
        _fail(where, f"must be an object, not {_kind(value)}")
    return value


def _plain(value: Any, where: str) -> None:
    """Free-form data kept as given (instance and template extras): bounded nesting, so writing
    it back can never hit the recursion limit."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            if depth >= MAX_EXTRA_DEPTH:
                _fail(where, f"is nested more than {MAX_EXTRA_DEPTH} levels deep")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def _tags(raw: Mapping[str, Any], key: str, where: str) -> list[dict[str, str]]:
    value = raw.get(key)
    if value in (None, ""):
        return []
    if type(value) is not list:
        _fail(f"{_at(where, key)}", f"must be a list of {{Key, Value}} objects, not {_kind(value)}")
    out = []
    for n, tag in enumerate(value):
        at = f"{_at(where, key)}[{n}]"
        tag = _object(tag, at)
        if type(tag.get("Key")) is not str or not tag["Key"]:
            _fail(f"{at}.Key", "must be a non-empty string")
        out.append({"Key": tag["Key"], "Value": _text(tag, "Value", at)})
    return out


def _digits(value: Any, where: str, *, limit: int, default: str) -> str:
    """A count-like field the API spells as a string of digits (an integer is accepted too)."""
    if value is None or value == "":
        return default
    if type(value) is int and value >= 0:
        text = str(value) if value < 10**limit else ""
    elif type(value) is str:
        text = value.strip()
    else:
        _fail(where, f"must be a string of digits, not {_kind(value)}")
    if not text.isascii() or not text.isdigit() or len(text) > limit:
        _fail(where, f"must be a whole number of at most {limit} digits, not {_short(value)}")
    return text


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ---------------------------------------------------------------------------------------------
# Normalisation (the engine's view of a state)


# The types of a rule's values that `_policy_key` takes as they are (see there).
_ALL_TEXT = frozenset({str})


def _policy_key(policy: Any) -> tuple | None:
    """A hashable spelling of a rule as given, or None unless every value is text (or an object
    of texts): 1 == True == 1.0 as keys, yet they are stored differently."""
    if type(policy) is not dict:
        return None
    if "PolicyIndex" in policy:  # it does not change how a rule is stored (the position is its index)
        policy = policy.copy()
        del policy["PolicyIndex"]
    # The common case, a rule without template specs: a few calls in C instead of a Python
    # loop over the fields (this key is computed for every rule of a state file).
    if _ALL_TEXT.issuperset(map(type, policy.values())):
        return tuple(policy.items())
    parts = []
    for k, v in policy.items():
        if type(v) is dict:
            if not all(type(x) is str for x in v.values()):
                return None
            v = tuple(v.items())
        elif type(v) is not str:
            return None
        parts.append((k, v))
    return tuple(parts)


def _check_rule_types(policy: Any, where: str) -> Mapping[str, Any]:
    """The slow path's type check (rules whose values are all text skip it): what check_policy
    would otherwise turn into text with str() — a list as "['a']" — is refused here."""
    policy = _object(policy, where)
    for key in _RULE_TEXT_FIELDS:
        _text(policy, key, where)
    for key in ("Port", "PolicyIndex"):
        value = policy.get(key)
        if value is not None and type(value) not in (str, int):
            _fail(f"{where}.{key}", f"must be a string, not {_kind(value)}")
    for key in ("AddressTemplate", "ServiceTemplate"):
        value = policy.get(key)
        if value not in (None, ""):
            spec = _object(value, f"{where}.{key}")
            for name in spec:
                _text(spec, name, f"{where}.{key}")
    return policy


def _rules(policy_set: Mapping[str, Any], direction: str, where: str, now: str,
           memo: dict[tuple, dict[str, Any]] | None) -> list[dict[str, Any]]:
    rules = []
    for position, policy in enumerate(_list(policy_set, direction, where)):
        key = _policy_key(policy) if memo is not None else None
        stored = memo.get(key) if key is not None else None  # type: ignore[union-attr]
        if stored is None:
            at = f"{where}.{direction}[{position}]"  # (only here: most rules are memo hits)
            if key is None:
                policy = _check_rule_types(policy, at)
            try:
                stored = check_policy(policy, policy.get("ModifyTime") or now, strict_fields=False)
            except CloudError as exc:
                _fail(at, exc.message or exc.code)
            if key is not None:
                memo[key] = stored  # type: ignore[index]
        rules.append(stored)
    return rules


def normalize_group(raw: Any, now: str = "", memo: dict[tuple, dict[str, Any]] | None = None,
                    where: str = "SecurityGroups[?]") -> dict[str, Any]:
    """One SecurityGroup (with its SecurityGroupPolicySet) with every optional field filled.

    Rules are stored as the API answers them, without PolicyIndex (the position is the index).
    Raises ValueError (`field: message`) when something is malformed.

    `memo` (optional) shares one stored dict between rules given identically (estates repeat
    rules across groups): stored rules are read-only values, the engine replaces them, never
    edits them. Checking each distinct rule once was most of the cost of loading a big state.
    """
    raw = _object(raw, where)
    group_id = raw.get("SecurityGroupId")
    if type(group_id) is not str or not group_id.startswith("sg-") or len(group_id) <= 3:
        _fail(f"{where}.SecurityGroupId", f"must be a security group id (sg-…), not {_short(group_id)}")
    try:
        return _group(raw, group_id, now, memo, where)
    except ValueError as exc:  # name the group too: an index is hard to find in a big file
        raise ValueError(f"{exc} (group {_short(group_id)})") from None


def _group(raw: Mapping[str, Any], group_id: str, now: str, memo: dict[tuple, dict[str, Any]] | None,
           where: str) -> dict[str, Any]:
    unknown = sorted(set(raw) - _GROUP_FIELDS)
    if unknown:
        # A misspelt field (say SecurityGroupPolicySets) would otherwise drop the group's rules.
        _fail(f"{where}.{unknown[0]}", "is not a SecurityGroup field")
    policy_set = raw.get("SecurityGroupPolicySet")
    policy_where = f"{where}.SecurityGroupPolicySet"
    policy_set = {} if policy_set in (None, "") else _object(policy_set, policy_where)
    directions = {d: _rules(policy_set, d, policy_where, now, memo) for d in ("Ingress", "Egress")}
    version = _digits(policy_set.get("Version"), f"{policy_where}.Version", limit=MAX_VERSION_DIGITS, default="0")
    is_default = raw.get("IsDefault")
    if is_default is not None and type(is_default) is not bool:
        _fail(f"{where}.IsDefault", f"must be true or false, not {_kind(is_default)}")
    created = _text(raw, "CreatedTime", where)
    return {
        "SecurityGroupId": group_id,
        "SecurityGroupName": _text(raw, "SecurityGroupName", where),
        "SecurityGroupDesc": _text(raw, "SecurityGroupDesc", where),
        "ProjectId": _digits(raw.get("ProjectId"), f"{where}.ProjectId", limit=20, default="0"),
        "IsDefault": bool(is_default),
        "CreatedTime": created or now,
        "UpdateTime": _text(raw, "UpdateTime", where) or created or now,
        "TagSet": _tags(raw, "TagSet", where),
        "SecurityGroupPolicySet": {"Version": version, **directions},
    }


def normalize_instance(raw: Any, where: str = "Instances[?]") -> dict[str, Any]:
    """One CVM instance: id, name, ordered group ids, tags; other recorded fields kept as they are."""
    raw = _object(raw, where)
    instance_id = raw.get("InstanceId")
    if type(instance_id) is not str or not instance_id:
        _fail(f"{where}.InstanceId", f"must be an instance id (ins-…), not {_short(instance_id)}")
    groups = _text_list(raw, "SecurityGroupIds", where)
    extra = {}
    for key, value in raw.items():
        if key not in _RUNTIME_INSTANCE_FIELDS:
            _plain(value, f"{where}.{key}")
            extra[key] = value
    return {
        **extra,
        "InstanceId": instance_id,
        "InstanceName": _text(raw, "InstanceName", where),
        "SecurityGroupIds": list(groups),
        "Tags": _tags(raw, "Tags", where),
    }


_TEMPLATE_DEFAULTS: dict[str, tuple[str, dict[str, Any]]] = {
    "AddressTemplates": ("AddressTemplateId", {"AddressTemplateName": "", "AddressSet": [], "TagSet": []}),
    "AddressTemplateGroups": (
        "AddressTemplateGroupId",
        {"AddressTemplateGroupName": "", "AddressTemplateIdSet": [], "TagSet": []},
    ),
    "ServiceTemplates": ("ServiceTemplateId", {"ServiceTemplateName": "", "ServiceSet": [], "TagSet": []}),
    "ServiceTemplateGroups": (
        "ServiceTemplateGroupId",
        {"ServiceTemplateGroupName": "", "ServiceTemplateIdSet": [], "TagSet": []},
    ),
}
# The fields of a template entry the engine reads (filters, group members): checked for type.
_TEMPLATE_TEXT = ("AddressTemplateName", "AddressTemplateGroupName", "ServiceTemplateName",
                  "ServiceTemplateGroupName", "CreatedTime")
_TEMPLATE_TEXT_LISTS = ("AddressSet", "AddressTemplateIdSet", "ServiceSet", "ServiceTemplateIdSet")


def normalize_template(kind: str, raw: Any, now: str = "", where: str | None = None) -> dict[str, Any]:
    """One template or template group of list `kind` (a TEMPLATE_LISTS name) with defaults filled."""
    id_field, defaults = _TEMPLATE_DEFAULTS[kind]
    where = where or f"{kind}[?]"
    raw = _object(raw, where)
    if type(raw.get(id_field)) is not str or not raw[id_field]:
        _fail(f"{where}.{id_field}", "must be a non-empty string")
    for key in _TEMPLATE_TEXT:
        _text(raw, key, where)
    for key in _TEMPLATE_TEXT_LISTS:
        _text_list(raw, key, where)
    for key in ("AddressExtraSet", "ServiceExtraSet"):
        for n, item in enumerate(_list(raw, key, where)):
            _object(item, f"{where}.{key}[{n}]")
    for key, value in raw.items():
        _plain(value, f"{where}.{key}")
    out = {**json.loads(json.dumps(defaults)), **{k: v for k, v in raw.items() if v is not None}}
    out["TagSet"] = _tags(raw, "TagSet", where)
    out.setdefault("CreatedTime", now)
    if kind == "AddressTemplates" and "AddressExtraSet" not in out:
        out["AddressExtraSet"] = [{"Address": a, "Description": ""} for a in out["AddressSet"]]
    if kind == "ServiceTemplates" and "ServiceExtraSet" not in out:
        out["ServiceExtraSet"] = [{"Service": s, "Description": ""} for s in out["ServiceSet"]]
    return out


def _limits(raw: Any) -> dict[str, int]:
    limits = _object(raw, "Limits")
    out = {}
    for name, value in limits.items():
        number = int(_digits(value, f"Limits.{name}", limit=10, default="0"))
        if number > MAX_LIMIT:
            _fail(f"Limits.{name}", f"must be at most {MAX_LIMIT}")
        out[name] = number
    return out


def _association(raw: Any, where: str) -> dict[str, Any]:
    """A non-CVM resource (CLB, CDB, ENI) and the groups it carries: what the fake counts in
    DescribeSecurityGroupAssociationStatistics and what makes DeleteSecurityGroup ResourceInUse."""
    item = _object(raw, where)
    unknown = sorted(set(item) - {"ResourceType", "ResourceId", "SecurityGroupIds"})
    if unknown:
        _fail(f"{where}.{unknown[0]}", "is not a field (expected ResourceType, ResourceId, SecurityGroupIds)")
    kind = _text(item, "ResourceType", where)
    if kind not in ASSOCIATION_TYPES:
        _fail(f"{where}.ResourceType", f"must be one of {', '.join(sorted(ASSOCIATION_TYPES))}")
    return {"ResourceType": kind, "ResourceId": _text(item, "ResourceId", where),
            "SecurityGroupIds": _text_list(item, "SecurityGroupIds", where)}


def _unique(items: list[dict[str, Any]], id_field: str, kind: str) -> None:
    seen: dict[str, int] = {}
    for n, item in enumerate(items):
        first = seen.setdefault(item[id_field], n)
        if first != n:
            _fail(f"{kind}[{n}].{id_field}", f"{item[id_field]} appears twice (also {kind}[{first}])")


def normalize_state(raw: Any, now: str = "") -> dict[str, Any]:
    """A state-file dict with every optional field filled (DESIGN §4); ValueError when malformed.

    `now` fills missing CreatedTime/UpdateTime/ModifyTime. A `Limits` object, if present, is kept
    (the fake engine reads quota overrides from it).
    """
    if not isinstance(raw, Mapping):
        raise ValueError(f"(top level): a state must be a JSON object, not {_kind(raw)}")
    unknown = sorted(set(raw) - _TOP_LEVEL)
    if unknown:
        # A misspelt list (say SecurityGroup) would otherwise read as an empty cloud.
        _fail(unknown[0], "is not a state-file field (expected Region, SecurityGroups, Instances, "
                          "the four template lists, Limits or OtherAssociations; several regions go under Regions)")
    state = empty_state(_text(raw, "Region", ""))
    memo: dict[tuple, dict[str, Any]] = {}
    state["SecurityGroups"] = [
        normalize_group(g, now, memo, f"SecurityGroups[{n}]") for n, g in enumerate(_list(raw, "SecurityGroups", ""))
    ]
    state["Instances"] = [normalize_instance(i, f"Instances[{n}]") for n, i in enumerate(_list(raw, "Instances", ""))]
    for kind in TEMPLATE_LISTS:
        state[kind] = [normalize_template(kind, t, now, f"{kind}[{n}]") for n, t in enumerate(_list(raw, kind, ""))]
    if raw.get("Limits") not in (None, {}):
        state["Limits"] = _limits(raw["Limits"])
    associations = [_association(a, f"OtherAssociations[{n}]") for n, a in enumerate(_list(raw, "OtherAssociations", ""))]
    if associations:
        state["OtherAssociations"] = associations
    _unique(state["SecurityGroups"], "SecurityGroupId", "SecurityGroups")
    _unique(state["Instances"], "InstanceId", "Instances")
    for kind in TEMPLATE_LISTS:
        _unique(state[kind], _TEMPLATE_DEFAULTS[kind][0], kind)
    return state


def state_with_indices(state: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of a normalised state with each rule's PolicyIndex written out (for files)."""
    out = json.loads(json.dumps(state))
    for group in out["SecurityGroups"]:
        policy_set = group["SecurityGroupPolicySet"]
        for direction in ("Ingress", "Egress"):
            policy_set[direction] = [answer(rule, i) for i, rule in enumerate(policy_set[direction])]
    return out


# ---------------------------------------------------------------------------------------------
# The file's top level: one region, or {"Regions": {name: state}} (DESIGN §4)


@dataclass
class StateDocument:
    """A state file's regions, as read (not normalised).

    `multi` is the {"Regions": …} form; a single-region file whose Region differs from the one
    asked for is read as an empty region and written back in the Regions form, so the fake keeps
    each region's groups apart and never drops the ones already in the file.
    """

    regions: dict[str, Any]
    multi: bool

    @classmethod
    def parse(cls, raw: Any) -> "StateDocument":
        if not isinstance(raw, Mapping):
            raise ValueError(f"(top level): a state file must be a JSON object, not {_kind(raw)}")
        if "Regions" not in raw:
            region = raw.get("Region")
            if region is not None and type(region) is not str:
                _fail("Region", f"must be a string, not {_kind(region)}")
            return cls({region or "": raw}, multi=False)
        others = sorted(set(raw) - {"Regions"})
        if others:
            _fail(others[0], "a state file with Regions holds nothing else (put it inside a region)")
        regions = _object(raw["Regions"], "Regions")
        for name, state in regions.items():
            if not name or not name.isprintable() or name != name.strip():
                _fail(f"Regions.{_short(name)}", "is not a region name")
            state = _object(state, f"Regions.{name}")
            if state.get("Region") not in (None, "", name):
                _fail(f"Regions.{name}.Region", f"says {_short(state.get('Region'))}, not {name}")
        return cls(dict(regions), multi=True)

    def names(self) -> list[str]:
        return [name for name in self.regions if name]

    def select(self, region: str | None) -> tuple[str, dict[str, Any]]:
        """(region name, that region's raw state with Region filled in); ValueError if ambiguous."""
        if not region:
            if not self.multi:
                (name, raw), = self.regions.items()
                return name, dict(raw)
            if len(self.regions) > 1:
                _fail("Regions", f"the file holds {len(self.regions)} regions ({', '.join(sorted(self.regions))}); "
                                 "choose one with --region")
            if not self.regions:
                return "", empty_state()
            region = next(iter(self.regions))
        if not self.multi and "" in self.regions:  # a file without Region serves any one region
            return region, {**self.regions[""], "Region": region}
        return region, {**(self.regions.get(region) or empty_state(region)), "Region": region}

    def field_prefix(self, region: str) -> str:
        """What goes before a field name in an error about `region`'s part of the file."""
        return f"Regions.{region}." if self.multi else ""

    def with_region(self, region: str, state: Mapping[str, Any]) -> dict[str, Any]:
        """The whole file with `region`'s part replaced by `state` (other regions kept as read)."""
        state = {**state, "Region": region}
        if not self.multi and (set(self.regions) <= {"", region}):
            return state
        regions = {name: ({**raw, "Region": name} if name else raw) for name, raw in self.regions.items()}
        regions[region] = state
        return {"Regions": regions}


def parse_state(data: bytes) -> Any:
    """Decode a state file's bytes (strict UTF-8 JSON); ValueError with the place when it is not."""
    if not data.strip():
        raise ValueError("the file is empty (a crash or a full disk may have truncated it); "
                         "an empty state is written {}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ValueError(f"line {line} column {column}: not UTF-8 text (byte 0x{data[exc.start]:02x})") from None
    try:
        return loads_strict(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise ValueError("the JSON is nested too deeply to read") from None
    except ValueError as exc:  # a number past int()'s 4,300 digits, or the hooks below
        reason = "a number has more than 4,300 digits" if "digits" in str(exc) else str(exc)
        raise ValueError(f"not a valid state ({reason})") from None


def loads_strict(text: str) -> Any:
    """json.loads without NaN/Infinity and without floats that overflow to infinity (neither is
    JSON, and an infinite number fails later, far from its cause)."""
    return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"the number {text[:20]}… is too large")
    return number


def encode_state(state: Mapping[str, Any]) -> bytes:
    """The file's bytes: indented UTF-8 JSON, exactly what `parse_state` reads back."""
    return json_utf8(json.dumps(state, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def json_utf8(text: str) -> bytes:
    """JSON text as UTF-8 bytes, even when a string in it holds a lone surrogate ("\\ud800" read
    from a file or a request has no UTF-8 form): there, its \\u escape is written instead, which
    is valid JSON and reads back as the same string."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join(f"\\u{ord(c):04x}" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text).encode("utf-8")


# ---------------------------------------------------------------------------------------------
# Files: read without following links, write atomically


def shown(path: Path | str) -> str:
    """A path as one printable line (a file name may hold a newline or an escape sequence)."""
    text = str(path)
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def invalid_state(path: Path, exc: Exception, prefix: str = "") -> UserError:
    message = str(exc)
    if prefix and not message.startswith(("line ", "the file", "(top level)", "not a valid")):
        message = prefix + message
    if len(message) > 400:
        message = message[:397] + "..."
    return UserError(f"{shown(path)}: {shown(message)}")


def read_state_bytes(path: Path, *, missing_ok: bool) -> bytes | None:
    """A state file's bytes, or None when it does not exist and `missing_ok`.

    Never through a symbolic link (O_NOFOLLOW) and only from a regular file of at most
    MAX_STATE_BYTES; every problem is a UserError naming the path.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        if missing_ok:
            return None
        raise UserError(f"{shown(path)}: no such state file; check the path (only `sgplan apply` creates one)") \
            from None
    except OSError as exc:
        raise _os_error(path, "cannot read the state file", exc) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a directory, a FIFO, a device
            raise UserError(f"{shown(path)}: not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(MAX_STATE_BYTES + 1)
    except OSError as exc:
        raise _os_error(path, "cannot read the state file", exc) from None
    finally:
        os.close(fd)
    if len(data) > MAX_STATE_BYTES:
        raise UserError(f"{shown(path)}: the state file is larger than {MAX_STATE_BYTES // 2**20} MB")
    return data


def _os_error(path: Path, doing: str, exc: OSError) -> UserError:
    if exc.errno == errno.ELOOP:
        return UserError(f"{shown(path)}: is a symbolic link; sgplan reads and writes state files only as "
                         "regular files (name the link's target instead)")
    return UserError(f"{shown(path)}: {doing} ({exc.strerror or exc})")


def read_document(path: Path, *, missing_ok: bool = True) -> StateDocument | None:
    """The file's regions, or None when it does not exist and `missing_ok`; UserError when invalid."""
    data = read_state_bytes(path, missing_ok=missing_ok)
    if data is None:
        return None
    try:
        return StateDocument.parse(parse_state(data))
    except ValueError as exc:
        raise invalid_state(path, exc) from None


def read_state_file(path: Path, region: str | None = None) -> Any:
    """One region's JSON as it is, not normalised (the fake engine normalises what it is given);
    a missing file is the empty state. UserError when the file cannot be read or is malformed."""
    document = read_document(Path(path))
    if document is None:
        return empty_state(region or "")
    try:
        return document.select(region)[1]
    except ValueError as exc:
        raise invalid_state(Path(path), exc) from None


def load_state(path: Path, region: str | None = None) -> dict[str, Any]:
    """Read and normalise one region of a state file; a missing file is the empty state."""
    path = Path(path)
    document = read_document(path)
    if document is None:
        return empty_state(region or "")
    try:
        name, raw = document.select(region)
        return normalize_state(raw)
    except ValueError as exc:
        raise invalid_state(path, exc, document.field_prefix(region or "")) from None


def write_state(path: Path, state: Mapping[str, Any]) -> None:
    """Write `state` atomically: a temp file created exclusively (O_EXCL|O_NOFOLLOW) in the same
    directory, fsync, then os.replace. A state path that is a symbolic link is refused; every
    failure (read-only directory, full disk) is a UserError and leaves the old file as it was."""
    path = Path(path)
    data = encode_state(state)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _os_error(path.parent, "cannot create the directory", exc) from None
    mode = _existing_mode(path)
    temp, fd = _exclusive_temp(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if mode is not None:
                os.fchmod(handle.fileno(), mode)  # keep the file's permissions, not the temp file's 0600
            os.fsync(handle.fileno())
        os.replace(temp, path)  # rename(2) replaces the name itself: it never writes through a link
    except BaseException as exc:
        _unlink_quietly(temp)
        if isinstance(exc, OSError):
            raise _os_error(path, "cannot write the state file; it was left as it was", exc) from None
        raise
    _sync_directory(path.parent)


def _existing_mode(path: Path) -> int | None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _os_error(path, "cannot write the state file", exc) from None
    if stat.S_ISLNK(info.st_mode):
        raise _os_error(path, "", OSError(errno.ELOOP, "symbolic link"))
    if not stat.S_ISREG(info.st_mode):
        raise UserError(f"{shown(path)}: not a regular file")
    return stat.S_IMODE(info.st_mode)


def _exclusive_temp(path: Path) -> tuple[Path, int]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        temp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            return temp, os.open(temp, flags, 0o600)
        except FileExistsError:  # taken (or planted): another name
            continue
        except OSError as exc:
            raise _os_error(path, "cannot write the state file; it was left as it was", exc) from None
    raise UserError(f"{shown(path)}: cannot create a temporary file next to it")


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _sync_directory(directory: Path) -> None:
    """Make the rename durable; best effort (some file systems refuse fsync on a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# Recording from a cloud


def paged(
    client: ApiClient,
    service: str,
    action: str,
    set_field: str,
    params: Mapping[str, Any] | None = None,
    *,
    as_text: bool = True,
) -> Iterator[dict[str, Any]]:
    """Every item of a paged Describe action, with the reader's bounds (a lying TotalCount or
    one-item pages cannot make it loop: docs/api-limits.md).

    VPC types Offset/Limit as strings and CVM as integers (§2.3, §3.4): `as_text` picks which.
    """
    from sgplan.cloud.reader import read_listing

    yield from read_listing(client, service, action, set_field, params, as_text=as_text)


def snapshot(client: ApiClient) -> dict[str, Any]:
    """Every group with its rules, every instance and all template lists, in the state-file format."""
    state = empty_state(client.region or "")
    for group in paged(client, "vpc", "DescribeSecurityGroups", "SecurityGroupSet"):
        try:
            body = client.call("vpc", "DescribeSecurityGroupPolicies", {"SecurityGroupId": group["SecurityGroupId"]})
        except CloudError as exc:
            if exc.code == "ResourceNotFound":  # deleted while we were reading
                continue
            raise
        policy_set = body.get("SecurityGroupPolicySet") or {}
        record = {k: group.get(k) for k in (
            "SecurityGroupId", "SecurityGroupName", "SecurityGroupDesc", "ProjectId",
            "IsDefault", "CreatedTime", "UpdateTime", "TagSet",
        )}
        record["SecurityGroupPolicySet"] = {
            "Version": str(policy_set.get("Version") or "0"),
            "Ingress": sorted(policy_set.get("Ingress") or [], key=lambda p: int(p.get("PolicyIndex") or 0)),
            "Egress": sorted(policy_set.get("Egress") or [], key=lambda p: int(p.get("PolicyIndex") or 0)),
        }
        state["SecurityGroups"].append(record)
    for instance in paged(client, "cvm", "DescribeInstances", "InstanceSet", as_text=False):
        state["Instances"].append(
            {
                "InstanceId": instance.get("InstanceId"),
                "InstanceName": instance.get("InstanceName") or "",
                "SecurityGroupIds": list(instance.get("SecurityGroupIds") or []),
                "Tags": list(instance.get("Tags") or []),
            }
        )
    for kind in TEMPLATE_LISTS:
        action = f"Describe{kind}"
        set_field = kind[:-1] + "Set"
        state[kind] = list(paged(client, "vpc", action, set_field))
    return state_with_indices(normalize_state(state))
