"""The state-file format (DESIGN §4): normalise, load, write atomically, and record one from any cloud.

`snapshot(client)` reads every group, rule, instance and template through the API, so running the
fake on its result (`--cloud file:`) reproduces the same plan.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from sgplan.cloud.base import ApiClient, CloudError
from sgplan.diagnostics import UserError
from sgplan.fakecloud.rules import answer, check_policy

TEMPLATE_LISTS = ("AddressTemplates", "AddressTemplateGroups", "ServiceTemplates", "ServiceTemplateGroups")
# Instance fields that describe a running operation, not the estate: never recorded.
_RUNTIME_INSTANCE_FIELDS = frozenset(
    {"LatestOperation", "LatestOperationState", "LatestOperationRequestId", "LatestOperationErrorMsg"}
)
_PAGE = 100


def empty_state(region: str = "") -> dict[str, Any]:
    """A valid state with nothing in it."""
    return {"Region": region, "SecurityGroups": [], "Instances": [], **{name: [] for name in TEMPLATE_LISTS}}


def _tags(raw: Any, where: str) -> list[dict[str, str]]:
    if raw in (None, ""):
        return []
    if not isinstance(raw, list) or not all(isinstance(t, Mapping) and "Key" in t for t in raw):
        raise ValueError(f"{where}: tags must be a list of {{Key, Value}} objects")
    return [{"Key": str(t["Key"]), "Value": "" if t.get("Value") is None else str(t["Value"])} for t in raw]


# Fields of a stored or answered rule that do not change how it is stored: left out of the memo key.
_NOT_STORED = frozenset({"PolicyIndex"})


def _policy_key(policy: Any) -> tuple | None:
    """A hashable spelling of a rule as given, or None unless every value is text (or an object
    of texts): 1 == True == 1.0 as keys, yet they are stored differently."""
    if type(policy) is not dict:
        return None
    parts = []
    for k, v in policy.items():
        if k in _NOT_STORED:
            continue
        if type(v) is dict:
            if not all(type(x) is str for x in v.values()):
                return None
            v = tuple(v.items())
        elif type(v) is not str:
            return None
        parts.append((k, v))
    return tuple(parts)


def normalize_group(raw: Any, now: str = "", memo: dict[tuple, dict[str, Any]] | None = None) -> dict[str, Any]:
    """One SecurityGroup (with its SecurityGroupPolicySet) with every optional field filled.

    Rules are stored as the API answers them, without PolicyIndex (the position is the index).
    Raises ValueError naming the group when something is malformed.

    `memo` (optional) shares one stored dict between rules given identically (estates repeat
    rules across groups): stored rules are read-only values, the engine replaces them, never
    edits them. Checking each distinct rule once was most of the cost of loading a big state.
    """
    if not isinstance(raw, Mapping) or not str(raw.get("SecurityGroupId") or "").startswith("sg-"):
        raise ValueError(f"security group {raw!r:.80}: SecurityGroupId (sg-…) is required")
    group_id = str(raw["SecurityGroupId"])
    policy_set = raw.get("SecurityGroupPolicySet") or {}
    directions: dict[str, list[dict[str, Any]]] = {}
    for direction in ("Ingress", "Egress"):
        rules = []
        for position, policy in enumerate(policy_set.get(direction) or []):
            key = _policy_key(policy) if memo is not None else None
            stored = memo.get(key) if key is not None else None  # type: ignore[union-attr]
            if stored is None:
                try:
                    stored = check_policy(policy, str(policy.get("ModifyTime") or now), strict_fields=False)
                except CloudError as exc:
                    raise ValueError(f"{group_id} {direction}[{position}]: {exc.message or exc.code}") from None
                except AttributeError:  # not an object at all
                    raise ValueError(f"{group_id} {direction}[{position}]: a rule must be an object") from None
                if key is not None:
                    memo[key] = stored  # type: ignore[index]
            rules.append(stored)
        directions[direction] = rules
    version = str(policy_set.get("Version") if policy_set.get("Version") not in (None, "") else "0")
    if not version.isdigit():
        raise ValueError(f"{group_id}: Version must be a number, not {version!r}")
    return {
        "SecurityGroupId": group_id,
        "SecurityGroupName": str(raw.get("SecurityGroupName") or ""),
        "SecurityGroupDesc": str(raw.get("SecurityGroupDesc") or ""),
        "ProjectId": str(raw.get("ProjectId") if raw.get("ProjectId") not in (None, "") else "0"),
        "IsDefault": bool(raw.get("IsDefault") or False),
        "CreatedTime": str(raw.get("CreatedTime") or now),
        "UpdateTime": str(raw.get("UpdateTime") or raw.get("CreatedTime") or now),
        "TagSet": _tags(raw.get("TagSet"), group_id),
        "SecurityGroupPolicySet": {"Version": version, **directions},
    }


def normalize_instance(raw: Any) -> dict[str, Any]:
    """One CVM instance: id, name, ordered group ids, tags; other recorded fields kept as they are."""
    if not isinstance(raw, Mapping) or not raw.get("InstanceId"):
        raise ValueError(f"instance {raw!r:.80}: InstanceId is required")
    instance_id = str(raw["InstanceId"])
    groups = raw.get("SecurityGroupIds") or []
    if not isinstance(groups, list):
        raise ValueError(f"{instance_id}: SecurityGroupIds must be a list")
    extra = {k: v for k, v in raw.items() if k not in _RUNTIME_INSTANCE_FIELDS}
    return {
        **extra,
        "InstanceId": instance_id,
        "InstanceName": str(raw.get("InstanceName") or ""),
        "SecurityGroupIds": [str(g) for g in groups],
        "Tags": _tags(raw.get("Tags"), instance_id),
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


def normalize_template(kind: str, raw: Any, now: str = "") -> dict[str, Any]:
    """One template or template group of list `kind` (a TEMPLATE_LISTS name) with defaults filled."""
    id_field, defaults = _TEMPLATE_DEFAULTS[kind]
    if not isinstance(raw, Mapping) or not raw.get(id_field):
        raise ValueError(f"{kind}: every entry needs {id_field}")
    out = {id_field: str(raw[id_field]), **json.loads(json.dumps(defaults)), **raw}
    out.setdefault("CreatedTime", now)
    if kind == "AddressTemplates" and "AddressExtraSet" not in raw:
        out["AddressExtraSet"] = [{"Address": a, "Description": ""} for a in out["AddressSet"]]
    if kind == "ServiceTemplates" and "ServiceExtraSet" not in raw:
        out["ServiceExtraSet"] = [{"Service": s, "Description": ""} for s in out["ServiceSet"]]
    return out


def normalize_state(raw: Any, now: str = "") -> dict[str, Any]:
    """A state-file dict with every optional field filled (DESIGN §4); ValueError when malformed.

    `now` fills missing CreatedTime/UpdateTime/ModifyTime. A `Limits` object, if present, is kept
    (the fake engine reads quota overrides from it).
    """
    if not isinstance(raw, Mapping):
        raise ValueError("the state must be a JSON object")
    state = empty_state(str(raw.get("Region") or ""))
    memo: dict[tuple, dict[str, Any]] = {}
    state["SecurityGroups"] = [normalize_group(g, now, memo) for g in raw.get("SecurityGroups") or []]
    state["Instances"] = [normalize_instance(i) for i in raw.get("Instances") or []]
    for kind in TEMPLATE_LISTS:
        state[kind] = [normalize_template(kind, t, now) for t in raw.get(kind) or []]
    if raw.get("Limits"):
        if not isinstance(raw["Limits"], Mapping):
            raise ValueError("Limits must be an object")
        state["Limits"] = dict(raw["Limits"])
    for kind, id_field in (("SecurityGroups", "SecurityGroupId"), ("Instances", "InstanceId")):
        ids = [item[id_field] for item in state[kind]]
        if len(ids) != len(set(ids)):
            duplicate = next(i for i in ids if ids.count(i) > 1)
            raise ValueError(f"{kind}: {duplicate} appears twice")
    return state


def state_with_indices(state: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of a normalised state with each rule's PolicyIndex written out (for files)."""
    out = json.loads(json.dumps(state))
    for group in out["SecurityGroups"]:
        policy_set = group["SecurityGroupPolicySet"]
        for direction in ("Ingress", "Egress"):
            policy_set[direction] = [answer(rule, i) for i, rule in enumerate(policy_set[direction])]
    return out


def load_state(path: Path) -> dict[str, Any]:
    """Read and normalise a state file; a missing file is the empty state. UserError when unreadable."""
    path = Path(path)
    raw = read_state_file(path)
    try:
        return normalize_state(raw)
    except ValueError as exc:
        raise invalid_state(path, exc) from None


def read_state_file(path: Path) -> Any:
    """A state file's JSON as it is, not normalised (the fake engine normalises what it is given,
    so `--cloud file:` reads through this and normalises once); a missing file is the empty
    state. UserError when the file cannot be read or is not JSON."""
    path = Path(path)
    if not path.exists():
        return empty_state()
    try:
        # Bytes, not text: json decodes UTF-8 itself, and the text copy is never held.
        return json.loads(path.read_bytes() or b"{}")
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise invalid_state(path, exc) from None


def invalid_state(path: Path, exc: Exception) -> UserError:
    return UserError(f"{path}: not a valid sgplan state file: {exc}")


def write_state(path: Path, state: Mapping[str, Any]) -> None:
    """Write `state` as JSON atomically: a temp file in the same directory, then os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(state, indent=2, ensure_ascii=False) + "\n"
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise


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
    """Every item of a paged Describe action, 100 per call, until TotalCount.

    VPC types Offset/Limit as strings and CVM as integers (§2.3, §3.4): `as_text` picks which.
    """
    offset = 0
    wrap: Callable[[int], Any] = str if as_text else int
    while True:
        body = client.call(service, action, {**(params or {}), "Offset": wrap(offset), "Limit": wrap(_PAGE)})
        items = body.get(set_field) or []
        yield from items
        offset += len(items)
        if not items or offset >= int(body.get("TotalCount") or 0):
            return


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
