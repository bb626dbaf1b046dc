"""The one frozen model both sides share: configuration and cloud build the same values.

Normalisation happens here, once, so that `desired == live` means "no change" whatever
spelling the cloud answers with (reference/tencentcloud-sg-api.md §1.3).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Iterable, Mapping

STACK_TAG = "sgplan-stack"
ADDRESS_TAG = "sgplan-address"
PREVENT_DESTROY_TAG = "sgplan-prevent-destroy"
SGPLAN_TAGS = frozenset({STACK_TAG, ADDRESS_TAG, PREVENT_DESTROY_TAG})

MAX_NAME = 60
MAX_DESCRIPTION = 100
MAX_GROUPS_PER_INSTANCE = 5
DEFAULT_RULES_PER_DIRECTION = 100  # SecurityGroupPolicyLimit (API §2.14, §4), per direction as ECM states


class Direction(str, Enum):
    INGRESS = "ingress"
    EGRESS = "egress"

    @property
    def api(self) -> str:
        return "Ingress" if self is Direction.INGRESS else "Egress"


PROTOCOLS = {"TCP": "TCP", "UDP": "UDP", "ICMP": "ICMP", "ICMPV6": "ICMPv6", "GRE": "GRE", "ALL": "ALL"}
ACTIONS = ("ACCEPT", "DROP")
PORTED = frozenset({"TCP", "UDP"})

# HCL attribute name -> API field, for the single-valued sources of a rule.
SOURCE_FIELDS = (
    "cidr_block",
    "ipv6_cidr_block",
    "security_group_id",
    "address_template_id",
    "address_template_group_id",
)
SERVICE_FIELDS = ("service_template_id", "service_template_group_id")


@dataclass(frozen=True, slots=True)
class SourceRange:
    """Where a value came from in the configuration; never part of equality."""

    file: str
    line: int
    column: int = 1


@dataclass(frozen=True, slots=True)
class GroupRef:
    """A group id known only after apply: `security_group.web.id` for a group still to be created."""

    address: str

    def __str__(self) -> str:
        return f"{self.address}.id"


# ---------------------------------------------------------------------------------------------
# Normalisers (raise ValueError with a user-facing message)


def normalize_action(value: str) -> str:
    action = str(value).strip().upper()
    if action not in ACTIONS:
        raise ValueError(f"action must be ACCEPT or DROP, not {value!r}")
    return action


def normalize_protocol(value: str) -> str:
    key = str(value).strip().upper()
    if key not in PROTOCOLS:
        raise ValueError(f"protocol must be one of TCP, UDP, ICMP, ICMPv6, GRE, ALL, not {value!r}")
    return PROTOCOLS[key]


def _port_number(text: str, whole: str) -> int:
    if not text.isdigit():
        raise ValueError(f"invalid port {whole!r}: {text!r} is not a number")
    number = int(text)
    if not 1 <= number <= 65535:
        raise ValueError(f"invalid port {whole!r}: {number} is outside 1-65535")
    return number


def normalize_port(protocol: str | None, port: Any) -> str | None:
    """Canonical port: `ALL`, `22`, `8000-8010`, or a sorted distinct list `80,443`.

    Only TCP and UDP carry a port; any other protocol normalises to None (the API answers
    `ALL` or nothing for them, §1.3).
    """
    if protocol not in PORTED:
        if port is None or str(port).strip().upper() in ("", "ALL"):
            return None
        raise ValueError(f"port is only valid with TCP or UDP, not with {protocol}")
    if port is None or str(port).strip() == "":
        return "ALL"
    text = str(port).strip().replace(" ", "")
    if text.upper() == "ALL":
        return "ALL"
    if "-" in text and "," not in text:
        low_text, _, high_text = text.partition("-")
        low, high = _port_number(low_text, text), _port_number(high_text, text)
        if low > high:
            raise ValueError(f"invalid port range {text!r}: start is after end")
        return str(low) if low == high else f"{low}-{high}"
    numbers = sorted({_port_number(part, text) for part in text.split(",")})
    return ",".join(str(n) for n in numbers)


def normalize_cidr(value: str, version: int) -> str:
    """One spelling per network: host bits cleared, `/32` or `/128` for a bare address.

    The API stores any `0.0.0.0/n` as `0.0.0.0/0` (§1.2); validation warns about it.
    """
    text = str(value).strip()
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        kind = "IPv4" if version == 4 else "IPv6"
        raise ValueError(f"{text!r} is not a valid {kind} CIDR block") from None
    if network.version != version:
        if version == 4:
            raise ValueError(f"{text!r} is an IPv6 network: use ipv6_cidr_block")
        raise ValueError(f"{text!r} is an IPv4 network: use cidr_block")
    if version == 4 and network.network_address == ipaddress.IPv4Address(0):
        return "0.0.0.0/0"
    return network.with_prefixlen if version == 4 else network.compressed


# ---------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True, slots=True)
class Rule:
    """One ordered rule (SecurityGroupPolicy) in HCL field names, already canonical."""

    action: str
    protocol: str | None = None
    port: str | None = None
    cidr_block: str | None = None
    ipv6_cidr_block: str | None = None
    security_group_id: str | GroupRef | None = None
    # A template of this configuration still to be created is a GroupRef to its address
    # (`address_template.office`), resolved like a group reference (issue 17).
    address_template_id: str | GroupRef | None = None
    address_template_group_id: str | GroupRef | None = None
    service_template_id: str | GroupRef | None = None
    service_template_group_id: str | GroupRef | None = None
    description: str = ""
    origin: SourceRange | None = field(default=None, compare=False, repr=False)

    @property
    def peer(self) -> str | GroupRef | None:
        for name in SOURCE_FIELDS:
            value = getattr(self, name)
            if value is not None:
                return value
        return None

    @property
    def service(self) -> str:
        """`TCP:22`, `ICMP`, or the service template id — for display."""
        if self.service_template_id or self.service_template_group_id:
            return str(self.service_template_id or self.service_template_group_id)
        if self.protocol in PORTED:
            return f"{self.protocol}:{self.port}"
        return str(self.protocol)

    def key(self) -> tuple:
        """What makes two rules duplicates for the API: everything but the description."""
        # Called several times per rule by validation, diff and analysis (half a million calls at
        # G=2,000 × R=50): the common all-plain-strings case takes no function call per field.
        sg = self.security_group_id
        at, atg = self.address_template_id, self.address_template_group_id
        st, stg = self.service_template_id, self.service_template_group_id
        return (
            self.action,
            self.protocol,
            self.port,
            self.cidr_block,
            self.ipv6_cidr_block,
            sg if sg is None or type(sg) is str else str(sg),
            at if at is None or type(at) is str else str(at),
            atg if atg is None or type(atg) is str else str(atg),
            st if st is None or type(st) is str else str(st),
            stg if stg is None or type(stg) is str else str(stg),
        )

    def template_refs(self) -> tuple[str, ...]:
        """Addresses of templates of this configuration this rule needs created first."""
        return tuple(getattr(self, n).address for n in TEMPLATE_FIELDS if isinstance(getattr(self, n), GroupRef))

    def refs(self) -> tuple[str, ...]:
        """Addresses of groups this rule needs created first."""
        return (self.security_group_id.address,) if isinstance(self.security_group_id, GroupRef) else ()

    def to_hcl(self) -> dict[str, Any]:
        """Rule as HCL field names with None left out (plan JSON before/after)."""
        out: dict[str, Any] = {"action": self.action}
        for name in ("protocol", "port", *SOURCE_FIELDS, *SERVICE_FIELDS):
            value = getattr(self, name)
            if value is not None:
                out[name] = str(value) if isinstance(value, GroupRef) else value
        out["description"] = self.description
        return out

    def to_api(self, resolve: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Rule as a SecurityGroupPolicy request body; `resolve` maps GroupRef addresses to ids."""
        body: dict[str, Any] = {"Action": self.action}

        def ref(value: str | GroupRef) -> str:
            if isinstance(value, GroupRef):
                if resolve is None or value.address not in resolve:
                    raise KeyError(f"{value} is not known yet")
                return resolve[value.address]
            return value

        if self.service_template_id or self.service_template_group_id:
            spec = {}
            if self.service_template_id:
                spec["ServiceId"] = ref(self.service_template_id)
            if self.service_template_group_id:
                spec["ServiceGroupId"] = ref(self.service_template_group_id)
            body["ServiceTemplate"] = spec
        else:
            body["Protocol"] = self.protocol
            if self.protocol in PORTED:
                body["Port"] = self.port
        if self.cidr_block is not None:
            body["CidrBlock"] = self.cidr_block
        elif self.ipv6_cidr_block is not None:
            body["Ipv6CidrBlock"] = self.ipv6_cidr_block
        elif self.security_group_id is not None:
            sg = self.security_group_id
            if isinstance(sg, GroupRef):
                if resolve is None or sg.address not in resolve:
                    raise KeyError(f"{sg} is not known yet")
                sg = resolve[sg.address]
            body["SecurityGroupId"] = sg
        elif self.address_template_id is not None:
            body["AddressTemplate"] = {"AddressId": ref(self.address_template_id)}
        elif self.address_template_group_id is not None:
            body["AddressTemplate"] = {"AddressGroupId": ref(self.address_template_group_id)}
        body["PolicyDescription"] = self.description
        return body

    @classmethod
    def from_api(cls, policy: Mapping[str, Any]) -> "Rule":
        """Rule from a SecurityGroupPolicy as the API answers it (any case, empty = missing)."""

        def text(name: str) -> str | None:
            value = policy.get(name)
            return None if value in (None, "") else str(value)

        service = policy.get("ServiceTemplate") or {}
        address = policy.get("AddressTemplate") or {}
        service_id = service.get("ServiceId") or None
        service_group_id = service.get("ServiceGroupId") or None
        protocol = None
        port = None
        if not (service_id or service_group_id):
            protocol = normalize_protocol(text("Protocol") or "ALL")
            port = normalize_port(protocol, text("Port"))
        cidr = text("CidrBlock")
        cidr6 = text("Ipv6CidrBlock")
        return cls(
            action=normalize_action(text("Action") or ""),
            protocol=protocol,
            port=port,
            cidr_block=normalize_cidr(cidr, 4) if cidr else None,
            ipv6_cidr_block=normalize_cidr(cidr6, 6) if cidr6 else None,
            security_group_id=text("SecurityGroupId"),
            address_template_id=address.get("AddressId") or None,
            address_template_group_id=address.get("AddressGroupId") or None,
            service_template_id=service_id,
            service_template_group_id=service_group_id,
            description=text("PolicyDescription") or "",
        )

    def resolved(self, ids: Mapping[str, str]) -> "Rule":
        """This rule with a GroupRef replaced by its id when `ids` knows it."""
        sg = self.security_group_id
        rule = self
        if isinstance(sg, GroupRef) and sg.address in ids:
            rule = replace(rule, security_group_id=ids[sg.address])
        for name in TEMPLATE_FIELDS:
            value = getattr(rule, name)
            if isinstance(value, GroupRef) and value.address in ids:
                rule = replace(rule, **{name: ids[value.address]})
        return rule


TEMPLATE_FIELDS = ("address_template_id", "address_template_group_id", "service_template_id", "service_template_group_id")


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


Tags = tuple[tuple[str, str], ...]


def make_tags(pairs: Mapping[str, str] | Iterable[tuple[str, str]]) -> Tags:
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    return tuple(sorted((str(k), str(v)) for k, v in items))


@dataclass(frozen=True, slots=True)
class SecurityGroup:
    """A group on either side. `tags` holds the user's tags only; sgplan's own live in
    `stack`/`address` (and come from the `sgplan-*` tags on the live side)."""

    name: str
    description: str = ""
    project_id: str = "0"
    tags: Tags = ()
    ingress: tuple[Rule, ...] = ()
    egress: tuple[Rule, ...] = ()
    id: str | None = None  # live id, or the pinned id of a configured group
    address: str | None = None  # e.g. "module.ssh.security_group.main"
    stack: str | None = None
    is_default: bool = False
    version: str | None = field(default=None, compare=False)
    prevent_destroy: bool = field(default=False, compare=False)
    ignore_findings: tuple[str, ...] = field(default=(), compare=False)
    origin: SourceRange | None = field(default=None, compare=False, repr=False)

    def rules(self, direction: Direction) -> tuple[Rule, ...]:
        return self.ingress if direction is Direction.INGRESS else self.egress

    def with_rules(self, direction: Direction, rules: tuple[Rule, ...]) -> "SecurityGroup":
        return replace(self, ingress=rules) if direction is Direction.INGRESS else replace(self, egress=rules)

    def to_hcl(self) -> dict[str, Any]:
        """The plan JSON's before/after of a group."""
        return {
            "name": self.name,
            "description": self.description,
            "project_id": self.project_id,
            "tags": dict(self.tags),
            "ingress": [r.to_hcl() for r in self.ingress],
            "egress": [r.to_hcl() for r in self.egress],
        }


@dataclass(frozen=True, slots=True)
class Binding:
    """One instance's ordered groups as configured; `address` names the binding block."""

    address: str  # "binding.web_servers" (or inside a module "module.m.binding.x")
    instance_id: str
    security_groups: tuple[str | GroupRef, ...]
    origin: SourceRange | None = field(default=None, compare=False, repr=False)

    @property
    def resource_address(self) -> str:
        return f'{self.address}["{self.instance_id}"]'


@dataclass(frozen=True, slots=True)
class Instance:
    """A CVM instance as the cloud reports it: its groups in binding (priority) order."""

    instance_id: str
    security_group_ids: tuple[str, ...] = ()
    name: str = ""
    tags: Tags = ()


@dataclass(frozen=True, slots=True)
class AddressTemplate:
    id: str
    name: str = ""
    addresses: tuple[str, ...] = ()
    tags: Tags = field(default=(), compare=False)  # all tags, the sgplan-* ones included (issue 17)


@dataclass(frozen=True, slots=True)
class AddressTemplateGroup:
    id: str
    name: str = ""
    template_ids: tuple[str, ...] = ()
    tags: Tags = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class ServiceTemplate:
    id: str
    name: str = ""
    services: tuple[str, ...] = ()  # "tcp:80", "udp:53-60", "icmp"
    tags: Tags = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class ServiceTemplateGroup:
    id: str
    name: str = ""
    template_ids: tuple[str, ...] = ()
    tags: Tags = field(default=(), compare=False)


# The four template block types (issue 17), HCL name → (CloudState list, members attribute).
TEMPLATE_KINDS: dict[str, tuple[str, str]] = {
    "address_template": ("address_templates", "addresses"),
    "address_template_group": ("address_template_groups", "template_ids"),
    "service_template": ("service_templates", "services"),
    "service_template_group": ("service_template_groups", "template_ids"),
}


@dataclass(frozen=True, slots=True)
class TemplateSpec:
    """A configured template block: `kind` is a TEMPLATE_KINDS key; `members` are canonical
    addresses, services, or (for a group) template ids / GroupRefs to templates still to create."""

    kind: str
    address: str  # "address_template.office" (or "module.m.address_template.x")
    name: str
    members: tuple[str | GroupRef, ...] = ()
    id: str | None = None  # pinned id (adoption); never deleted, no tags added
    origin: SourceRange | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class CloudState:
    """Live state of one region: the groups sgplan reads, every instance, the templates."""

    region: str = ""
    groups: tuple[SecurityGroup, ...] = ()
    instances: tuple[Instance, ...] = ()
    address_templates: tuple[AddressTemplate, ...] = ()
    address_template_groups: tuple[AddressTemplateGroup, ...] = ()
    service_templates: tuple[ServiceTemplate, ...] = ()
    service_template_groups: tuple[ServiceTemplateGroup, ...] = ()

    def group(self, group_id: str) -> SecurityGroup | None:
        for g in self.groups:
            if g.id == group_id:
                return g
        return None

    def instance(self, instance_id: str) -> Instance | None:
        for i in self.instances:
            if i.instance_id == instance_id:
                return i
        return None


@dataclass(frozen=True, slots=True)
class Settings:
    """The `sgplan {}` block after defaults."""

    region: str | None = None
    # No default: two configurations that both fell back to one name would delete each other's
    # groups (issue 11). Required once a configuration declares groups or bindings.
    stack: str | None = None
    cloud: str | None = None
    origin: SourceRange | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Output:
    """An evaluated `output`; `known` is False while it depends on a group still to be created."""

    name: str
    value: Any = None
    known: bool = True
    sensitive: bool = False


@dataclass(frozen=True, slots=True)
class DesiredState:
    """What the configuration asks for (HCL → this), compared against CloudState by the planner."""

    settings: Settings = Settings()
    groups: tuple[SecurityGroup, ...] = ()
    bindings: tuple[Binding, ...] = ()
    outputs: tuple[Output, ...] = ()
    config_hash: str = ""
    expects: tuple["Expect", ...] = ()  # reachability contracts (issue 16)
    templates: tuple[TemplateSpec, ...] = ()  # parameter templates as code (issue 17)
    moves: tuple[tuple[str, str], ...] = ()  # `moved` blocks: (from, to) group addresses


@dataclass(frozen=True, slots=True)
class Expect:
    """An `expect` block: a reachability contract proven on every plan (issue 16).

    `peers` holds canonical CIDRs and/or "internet"; `ports` is a canonical port spelling for
    TCP/UDP and None for other protocols; `instances` None means every instance a binding of
    the configuration names. `decision` is "deny" (nothing in the space is accepted) or "allow"
    (everything in it is accepted).
    """

    address: str  # "expect.no_public_ssh" (or "module.m.expect.x")
    direction: Direction
    peers: tuple[str, ...]
    protocol: str
    ports: str | None
    decision: str
    instances: tuple[str, ...] | None = None
    description: str = ""
    origin: SourceRange | None = field(default=None, compare=False, repr=False)
    # Instead of `instances`: every instance carrying one of these groups, each named by its id
    # (`sg-…`) or, for a group of this configuration, its address (`security_group.web`).
    security_groups: tuple[str, ...] | None = None

    @property
    def name(self) -> str:
        return self.address.rpartition(".")[2]


# -- parameter-template members: one spelling per member, as the API keeps them ---------------

MAX_TEMPLATE_NAME = 60


def canonical_address(text: str) -> str:
    """An address member as the API keeps it; ValueError for anything else."""
    value = str(text).strip()
    if "-" in value and "/" not in value:
        low, _, high = value.partition("-")
        a, b = ipaddress.ip_address(low.strip()), ipaddress.ip_address(high.strip())
        if a.version != b.version or int(a) > int(b):
            raise ValueError(f"{value!r} is not an address range (start and end of one family, start first)")
        return f"{a}-{b}"
    if "/" in value:
        return ipaddress.ip_network(value, strict=False).compressed
    return str(ipaddress.ip_address(value))


def canonical_service(text: str) -> str:
    """A service member (`tcp:80`, `udp:53-60`, `tcp:80,443`, `icmp`); ValueError otherwise."""
    value = str(text).strip().lower().replace(" ", "")
    protocol, colon, ports = value.partition(":")
    if protocol in ("icmp", "icmpv6", "gre", "all") and not colon:
        return protocol
    if protocol not in ("tcp", "udp") or not colon or not ports:
        raise ValueError(f"{text!r} is not a service (tcp:PORTS, udp:PORTS, icmp, icmpv6, gre or all)")
    if ports == "all":
        return f"{protocol}:all"
    for part in ports.split(","):
        bounds = part.split("-")
        if len(bounds) > 2 or not all(b.isdigit() and 1 <= int(b) <= 65535 for b in bounds):
            raise ValueError(f"{text!r} has an invalid port {part!r} (1-65535, a-b or a,b)")
        if len(bounds) == 2 and int(bounds[0]) > int(bounds[1]):
            raise ValueError(f"{text!r}: port range {part!r} starts after it ends")
    return f"{protocol}:{ports}"


# ---------------------------------------------------------------------------------------------
# Construction speed (issue 18)

def fast_init(cls: type) -> None:
    """Give a frozen slots dataclass an `__init__` with the same signature that stores each
    field through its slot's descriptor. The generated one calls `object.__setattr__(self,
    "name", value)` per field, which looks the name up each time: a `Rule` cost ~2.5 µs, three
    times this, and plan builds several hundred thousand model values at G=2,000 × R=50.
    Values, equality, hashing, `replace`, and immutability after construction are unchanged."""
    import dataclasses

    params: list[str] = []
    body: list[str] = []
    namespace: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init or f.kw_only or f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            return  # not this simple shape: keep the generated __init__
        if f.default is dataclasses.MISSING:
            params.append(f.name)
        else:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        namespace[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
        body.append(f"    _set_{f.name}(self, {f.name})")
    if hasattr(cls, "__post_init__") or not body:
        return
    exec(f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body) + "\n", namespace)  # noqa: S102
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[misc]


for _cls in (SourceRange, GroupRef, Rule, SecurityGroup, Binding, Instance, AddressTemplate, AddressTemplateGroup,
             ServiceTemplate, ServiceTemplateGroup, TemplateSpec, CloudState, Settings, Output, DesiredState, Expect):
    fast_init(_cls)
del _cls
