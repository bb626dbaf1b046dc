"""Tencent's own API metadata, as tccli ships it: loading, example parsing, output-schema checks.

Source: the installed `tccli` package (a test dependency), files
`tccli/services/<service>/<version>/api.json` (actions, request/response objects with `required`,
`output_required`, `type`, `member`, `value_allowed_null`) and `examples.json` (each action's
documented requests and answers). Nothing here is copied from tccli; it only reads its data.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any, Iterator, Mapping
from urllib.parse import parse_qsl

VERSIONS = {"vpc": "v20170312", "cvm": "v20170312", "tag": "v20180813"}

# Every action the fake serves (sgplan/fakecloud/engine.py), by service.
SERVED: dict[str, tuple[str, ...]] = {
    "vpc": (
        "CreateSecurityGroup", "CreateSecurityGroupWithPolicies", "DescribeSecurityGroups",
        "DescribeSecurityGroupPolicies", "ModifySecurityGroupAttribute", "ModifySecurityGroupPolicies",
        "CreateSecurityGroupPolicies", "DeleteSecurityGroupPolicies", "ReplaceSecurityGroupPolicy",
        "ReplaceSecurityGroupPolicies", "DeleteSecurityGroup", "DescribeSecurityGroupReferences",
        "DescribeSecurityGroupAssociationStatistics", "DescribeSecurityGroupLimits", "DescribeAddressTemplates",
        "DescribeAddressTemplateGroups", "DescribeServiceTemplates", "DescribeServiceTemplateGroups",
        # Parameter-template writes (issue 17, sgplan/fakecloud/templates.py).
        "CreateAddressTemplate", "ModifyAddressTemplateAttribute", "DeleteAddressTemplate",
        "CreateAddressTemplateGroup", "ModifyAddressTemplateGroupAttribute", "DeleteAddressTemplateGroup",
        "CreateServiceTemplate", "ModifyServiceTemplateAttribute", "DeleteServiceTemplate",
        "CreateServiceTemplateGroup", "ModifyServiceTemplateGroupAttribute", "DeleteServiceTemplateGroup",
        "AddTemplateMember", "DeleteTemplateMember", "ModifyTemplateMember", "DescribeTemplateLimits",
    ),
    "cvm": ("DescribeInstances", "AssociateSecurityGroups", "DisassociateSecurityGroups", "ModifyInstancesAttribute"),
    "tag": ("ModifyResourceTags", "DescribeResourceTagsByResourceIds", "TagResources", "UnTagResources"),
}


def served_actions() -> Iterator[tuple[str, str]]:
    for service, actions in SERVED.items():
        for action in actions:
            yield service, action


@lru_cache(maxsize=None)
def _load(service: str, name: str) -> dict[str, Any]:
    base = resources.files("tccli") / "services" / service / VERSIONS[service] / name
    return json.loads(base.read_text(encoding="utf-8"))


def api(service: str) -> dict[str, Any]:
    return _load(service, "api.json")


def examples(service: str, action: str) -> list[dict[str, Any]]:
    return list(_load(service, "examples.json")["actions"].get(action, []))


def request_object(service: str, action: str) -> dict[str, Any]:
    return api(service)["objects"][api(service)["actions"][action]["input"]]


def response_object(service: str, action: str) -> dict[str, Any]:
    return api(service)["objects"][api(service)["actions"][action]["output"]]


# -- example requests --------------------------------------------------------------------------


def example_params(service: str, action: str, example: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters of a documented request: the JSON body of a POST example, or the
    query of a GET example (`https://…/?Action=X\\n&A.0=b…`) unflattened and typed by the
    request schema (a query carries only text)."""
    text = example["input"]
    if text.startswith("POST"):
        body = text.split("\n\n", 1)[1] if "\n\n" in text else "{}"
        return json.loads(body)
    query = text.split("?", 1)[1].replace("\n", "")
    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "Action" and not k.startswith("<")]
    return _typed(_unflatten(pairs), request_object(service, action), service)


def _unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    root: dict[Any, Any] = {}
    for key, value in pairs:
        node = root
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(int(part) if part.isdigit() else part, {})
        node[int(parts[-1]) if parts[-1].isdigit() else parts[-1]] = value

    def build(node: Any) -> Any:
        if isinstance(node, dict) and node and all(isinstance(k, int) for k in node):
            return [build(node[k]) for k in sorted(node)]
        if isinstance(node, dict):
            return {k: build(v) for k, v in node.items()}
        return node

    return build(root)


def _typed(value: Any, obj: Mapping[str, Any], service: str) -> Any:
    members = {m["name"]: m for m in obj["members"]}
    out = {}
    for name, item in value.items():
        member = members.get(name)
        out[name] = _typed_member(item, member, service) if member else item
    return out


def _typed_member(value: Any, member: Mapping[str, Any], service: str) -> Any:
    kind = member["type"]
    if kind == "list":
        items = value if isinstance(value, list) else [value]
        return [_scalar_or_object(v, member["member"], service) for v in items]
    return _scalar_or_object(value, member["member"] if kind == "object" else kind, service)


def _scalar_or_object(value: Any, kind: str, service: str) -> Any:
    objects = api(service)["objects"]
    if kind in objects and isinstance(value, dict):
        return _typed(value, objects[kind], service)
    if kind in ("int", "int64", "uint64", "integer") and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    if kind == "bool" and isinstance(value, str):
        return value.lower() == "true"
    return value


# -- response schema ---------------------------------------------------------------------------

_SCALARS = {
    "string": (str,), "int": (int,), "int64": (int,), "uint64": (int,), "integer": (int,),
    "bool": (bool,), "float": (int, float), "double": (int, float), "datetime_iso": (str,), "datetime": (str,),
    "date": (str,), "timestamp": (str,), "binary": (str,),
}


def check_response(service: str, action: str, response: Mapping[str, Any], *, nulls_dropped: bool = False) -> list[str]:
    """Every way `response` (the Response object) breaks the documented output schema.

    `nulls_dropped`: the response went through a client that drops nulls, so a missing field
    that may be null is not a problem."""
    problems: list[str] = []
    if not isinstance(response.get("RequestId"), str):
        problems.append("RequestId: missing or not a string")
    body = {k: v for k, v in response.items() if k != "RequestId"}
    _check_object(service, response_object(service, action), body, action, problems, top=True, nulls=nulls_dropped)
    return problems


def _check_object(service: str, obj: Mapping[str, Any], value: Any, where: str, problems: list[str],
                  *, top: bool = False, nulls: bool = False) -> None:
    if not isinstance(value, dict):
        problems.append(f"{where}: expected an object, got {type(value).__name__}")
        return
    members = {m["name"]: m for m in obj["members"] if not (top and m["name"] == "RequestId")}
    for name in sorted(set(value) - set(members)):
        problems.append(f"{where}.{name}: not in the documented output")
    for name, member in members.items():
        if name not in value:
            # A response object's members are all returned unless api.json says otherwise; nested
            # objects mark what is always returned with output_required.
            if member.get("output_required", top) and not (nulls and member.get("value_allowed_null")):
                problems.append(f"{where}.{name}: documented as always returned, missing")
            continue
        _check_value(service, member, value[name], f"{where}.{name}", problems, nulls)


def _check_value(service: str, member: Mapping[str, Any], value: Any, where: str, problems: list[str],
                 nulls: bool = False) -> None:
    if value is None:
        if not member.get("value_allowed_null", False):
            problems.append(f"{where}: null, which the schema does not allow")
        return
    kind = member["type"]
    if kind == "list":
        if not isinstance(value, list):
            problems.append(f"{where}: expected a list, got {type(value).__name__}")
            return
        for n, item in enumerate(value):
            _check_item(service, member["member"], item, f"{where}[{n}]", problems, nulls)
        return
    if kind == "object":
        _check_object(service, api(service)["objects"][member["member"]], value, where, problems, nulls=nulls)
        return
    _check_item(service, member.get("member", kind) if kind not in _SCALARS else kind, value, where, problems, nulls)


def _check_item(service: str, kind: str, value: Any, where: str, problems: list[str], nulls: bool = False) -> None:
    objects = api(service)["objects"]
    if kind in objects:
        _check_object(service, objects[kind], value, where, problems, nulls=nulls)
        return
    allowed = _SCALARS.get(kind)
    if allowed is None:
        problems.append(f"{where}: unknown documented type {kind!r}")
        return
    if isinstance(value, bool) and bool not in allowed:
        problems.append(f"{where}: expected {kind}, got bool")
    elif not isinstance(value, allowed):
        problems.append(f"{where}: expected {kind}, got {type(value).__name__}")


# -- ids in examples ---------------------------------------------------------------------------

ID_PATTERNS = {
    "group": re.compile(r"\bsg-[a-z0-9]{8}\b"),
    "instance": re.compile(r"\bins-[a-z0-9*]+\b"),
    "address": re.compile(r"\bipm-[a-z0-9]{8}\b"),
    "address_group": re.compile(r"\bipmg-[a-z0-9]{8}\b"),
    "service": re.compile(r"\bppm-[a-z0-9]{8}\b"),
    "service_group": re.compile(r"\bppmg-[a-z0-9]{8}\b"),
}


def ids_in(params: Any) -> dict[str, list[str]]:
    text = json.dumps(params)
    return {kind: sorted(set(pattern.findall(text))) for kind, pattern in ID_PATTERNS.items()}
