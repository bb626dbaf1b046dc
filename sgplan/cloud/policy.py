"""The fake's view of one rule: validate a SecurityGroupPolicy request body, store it as the API answers.

Pure functions shared by the engine's rule-writing actions (reference/tencentcloud-sg-api.md §1.2–§1.4).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any, Mapping

from sgplan.cloud.base import CloudError
from sgplan.model import PORTED, Rule, normalize_action, normalize_port, normalize_protocol

# The selectors of §1.4 rule 1: exactly one of them names the peer.
_ADDRESS_FIELDS = ("CidrBlock", "Ipv6CidrBlock", "SecurityGroupId", "AddressTemplate")
_KNOWN_FIELDS = frozenset(
    {
        "PolicyIndex",
        "Protocol",
        "Port",
        "ServiceTemplate",
        "CidrBlock",
        "Ipv6CidrBlock",
        "SecurityGroupId",
        "AddressTemplate",
        "Action",
        "PolicyDescription",
        "ModifyTime",
        "Priority",
    }
)
# What `MY_PUBLIC_IP` stands for in the fake (the caller's public address to the real API, §1.2):
# documentation addresses (RFC 5737 / RFC 3849), since a loopback caller has no public one.
MY_PUBLIC_IP = "MY_PUBLIC_IP"
FAKE_PUBLIC_IPV4 = "203.0.113.1"
FAKE_PUBLIC_IPV6 = "2001:db8::1"
_ID_PREFIXES = {"AddressId": "ipm-", "AddressGroupId": "ipmg-", "ServiceId": "ppm-", "ServiceGroupId": "ppmg-"}


def blank(value: Any) -> bool:
    """True for what the API treats as "not given": None, "" and an empty nested model `{}`."""
    return value is None or value == "" or value == {}


def _text(policy: Mapping[str, Any], name: str) -> str:
    value = policy.get(name)
    return "" if blank(value) else str(value).strip()


def _spec(policy: Mapping[str, Any], name: str, first: str, second: str, *, both_ok: bool) -> dict[str, str]:
    """AddressTemplate / ServiceTemplate: one of its two ids when given at all (§1.4 rule 5).

    The text calls the two ids alternatives, yet three official examples (tccli vpc examples.json:
    CreateSecurityGroupWithPolicies, ModifySecurityGroupPolicies, ReplaceSecurityGroupPolicy)
    send both. The truth is unknown, so `both_ok` (Engine(template_pairs=…)) decides; both ids
    are then stored and answered as sent.
    """
    raw = policy.get(name)
    if blank(raw):
        return {first: "", second: ""}
    if not isinstance(raw, Mapping):
        raise CloudError("InvalidParameterValue.Malformed", f"{name} must be an object")
    out = {first: _text(raw, first), second: _text(raw, second)}
    given = [key for key, value in out.items() if value]
    if len(given) > 1 and not both_ok:
        raise CloudError("InvalidParameter.Coexist", f"{name}.{first} and {name}.{second} cannot be given together")
    for key in given:
        if not out[key].startswith(_ID_PREFIXES[key]):
            raise CloudError("InvalidParameterValue.Malformed", f"{name}.{key} {out[key]!r} is malformed")
    return out


@lru_cache(maxsize=65536)
def _cidr(value: str, version: int, name: str) -> str:
    # Memoised (a pure function of its text; errors are not cached): loading a state file
    # checks every stored rule, and ipaddress parsing was most of that cost in big estates.
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise CloudError("InvalidParameterValue.Malformed", f"{name} {value!r} is malformed") from None
    if network.version != version:
        raise CloudError("InvalidParameterValue.Malformed", f"{name} {value!r} is not an IPv{version} address")
    # §1.2: the service stores any 0.0.0.0/n as 0.0.0.0/0.
    if version == 4 and network.network_address == ipaddress.IPv4Address(0):
        return "0.0.0.0/0"
    return value


@lru_cache(maxsize=65536)
def _port_problem(protocol: str, port_text: str) -> str:
    """Why `port_text` is not a valid port for `protocol`, or "" (memoised like `_cidr`)."""
    try:
        normalize_port(protocol, port_text)
    except ValueError as exc:
        return str(exc)
    return ""


def parse_index(value: Any, name: str = "PolicyIndex") -> int | None:
    """A PolicyIndex as int or numeric string (the official Delete example sends strings, §2.8)."""
    if blank(value):
        return None
    if isinstance(value, bool):
        raise CloudError("InvalidParameterValue.Malformed", f"{name} must be an integer")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise CloudError("InvalidParameterValue.Malformed", f"{name} {value!r} is not an integer") from None
    if number < 0:
        raise CloudError("InvalidParameterValue.Range", f"{name} {number} is negative")
    return number


def check_policy(policy: Any, now: str, *, strict_fields: bool = True, both_template_ids: bool = True) -> dict[str, Any]:
    """Validate one request rule and return it as stored (and later answered) by the fake.

    Output follows §1.3: Protocol lowercase, Action uppercase, absent fields as "" and empty
    template specs with both keys. PolicyIndex is not stored: it is the rule's position.
    """
    if not isinstance(policy, Mapping):
        raise CloudError("InvalidParameterValue.Malformed", "a SecurityGroupPolicy must be an object")
    if strict_fields:
        unknown = sorted(set(policy) - _KNOWN_FIELDS)
        if unknown:
            raise CloudError("UnknownParameter", f"unknown field {unknown[0]!r} in SecurityGroupPolicy")
    action_text = _text(policy, "Action")
    if not action_text:
        raise CloudError("MissingParameter", "the rule needs an Action")
    try:
        action = normalize_action(action_text)
    except ValueError as exc:
        raise CloudError("InvalidParameterValue", str(exc)) from None

    service = _spec(policy, "ServiceTemplate", "ServiceId", "ServiceGroupId", both_ok=both_template_ids)
    address = _spec(policy, "AddressTemplate", "AddressId", "AddressGroupId", both_ok=both_template_ids)
    protocol_text, port_text = _text(policy, "Protocol"), _text(policy, "Port").replace(" ", "")
    has_service = any(service.values())
    protocol: str | None = None
    port = ""
    if has_service:
        if protocol_text or port_text:
            raise CloudError("InvalidParameter.Coexist", "Protocol/Port and ServiceTemplate are exclusive")
    else:
        # No Protocol and no ServiceTemplate: the real API stores protocol ALL, port ALL (issue 13
        # item 1; Terraform's provider sends such rules and deletes ALL rules by content this way).
        try:
            protocol = normalize_protocol(protocol_text or "ALL")
        except ValueError as exc:
            raise CloudError("InvalidParameterValue", str(exc)) from None
        if protocol in PORTED:
            problem = _port_problem(protocol, port_text)
            if problem:
                raise CloudError("InvalidParameterValue.Malformed", problem)
            # No port on TCP/UDP means every port; `all` in any case is answered as `ALL`.
            port = "ALL" if not port_text or port_text.upper() == "ALL" else port_text
        elif port_text and port_text.upper() != "ALL":
            # §1.3: "Protocol and Port are exclusive" except the tolerated `all`.
            raise CloudError("InvalidParameter.Coexist", f"Port is only valid with TCP or UDP, not {protocol}")
        else:
            # The real API reads every portless rule (ICMP, ICMPv6, GRE, ALL) back with Port "ALL"
            # (issue 13 item 4; the Terraform provider's acceptance tests expect "ALL").
            port = "ALL"

    cidr = _text(policy, "CidrBlock")
    cidr6 = _text(policy, "Ipv6CidrBlock")
    description = "" if policy.get("PolicyDescription") is None else str(policy["PolicyDescription"])
    if MY_PUBLIC_IP in (cidr, cidr6):
        # §1.2 (issue 13 item 9): the caller's public IP; an empty description is filled in.
        cidr = FAKE_PUBLIC_IPV4 if cidr == MY_PUBLIC_IP else cidr
        cidr6 = FAKE_PUBLIC_IPV6 if cidr6 == MY_PUBLIC_IP else cidr6
        description = description or "Replaced-From-MY_PUBLIC_IP"
    group = _text(policy, "SecurityGroupId")
    given = [name for name, value in zip(_ADDRESS_FIELDS, (cidr, cidr6, group, any(address.values()))) if value]
    if len(given) > 1:
        raise CloudError("InvalidParameter.Coexist", f"{given[0]} and {given[1]} cannot be given together")
    if not given:
        raise CloudError("MissingParameter", "the rule needs one of CidrBlock, Ipv6CidrBlock, SecurityGroupId, AddressTemplate")
    if cidr:
        cidr = _cidr(cidr, 4, "CidrBlock")
        if protocol == "ICMPv6":
            raise CloudError("InvalidParameter.Coexist", "ICMPv6 cannot be used with an IPv4 CidrBlock")
    if cidr6:
        cidr6 = _cidr(cidr6, 6, "Ipv6CidrBlock")
        if protocol == "ICMP":
            raise CloudError("InvalidParameter.Coexist", "ICMP cannot be used with Ipv6CidrBlock; use ICMPv6")
    if group and not (group.startswith("sg-") and len(group) > 3):
        raise CloudError("InvalidParameterValue.Malformed", f"SecurityGroupId {group!r} is malformed")

    return {
        "Protocol": protocol.lower() if protocol else "",
        "Port": port,
        "ServiceTemplate": service,
        "CidrBlock": cidr,
        "Ipv6CidrBlock": cidr6,
        "SecurityGroupId": group,
        "AddressTemplate": address,
        "Action": action,
        "PolicyDescription": description,
        "ModifyTime": now,
    }


def rule_key(stored: Mapping[str, Any]) -> tuple:
    """What makes two stored rules duplicates: their content AND their description.

    Rules that differ only in `PolicyDescription` are distinct to the real API (issue 13 item 2:
    terraform-provider-tencentcloud's acceptance test creates two such rules in one group).
    """
    return (content_key(stored), "" if stored.get("PolicyDescription") is None else str(stored["PolicyDescription"]))


def content_key(stored: Mapping[str, Any]) -> tuple:
    """A rule's content without its description (model `Rule.key`): what delete-by-content matches."""
    address = stored.get("AddressTemplate") or {}
    service = stored.get("ServiceTemplate") or {}
    return _key(
        stored.get("Action"), stored.get("Protocol"), stored.get("Port"), stored.get("CidrBlock"),
        stored.get("Ipv6CidrBlock"), stored.get("SecurityGroupId"), address.get("AddressId"),
        address.get("AddressGroupId"), service.get("ServiceId"), service.get("ServiceGroupId"),
    )


@lru_cache(maxsize=65536)
def _key(action: Any, protocol: Any, port: Any, cidr: Any, cidr6: Any, group: Any, *templates: Any) -> tuple:
    # A pure memo: engines check every rule of a direction on each write, and estates repeat rules.
    address_id, address_group_id, service_id, service_group_id = templates
    policy = {
        "Action": action, "Protocol": protocol, "Port": port, "CidrBlock": cidr, "Ipv6CidrBlock": cidr6,
        "SecurityGroupId": group,
        "AddressTemplate": {"AddressId": address_id, "AddressGroupId": address_group_id},
        "ServiceTemplate": {"ServiceId": service_id, "ServiceGroupId": service_group_id},
    }
    return Rule.from_api(policy).key()


def answer(stored: Mapping[str, Any], index: int) -> dict[str, Any]:
    """A stored rule as the API answers it, with its current 0-based PolicyIndex (§1.2)."""
    out: dict[str, Any] = {"PolicyIndex": index, **stored}
    # Stored rules share their nested specs (snapshot.normalize_group): the answer gets its own.
    for name in _NESTED:
        value = out.get(name)
        if type(value) is dict:
            out[name] = value.copy()
    return out


# The nested objects of a stored rule (check_policy makes no others).
_NESTED = ("ServiceTemplate", "AddressTemplate")
