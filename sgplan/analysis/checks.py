"""Policy findings (`sgplan check`, plan `findings`): a `CHECKS` tuple of state → findings functions.

Exposure checks run *after* first-match evaluation: per instance on its effective policy (its
groups in binding order, so a DROP in an earlier group counts), and per group for groups bound
to no instance. Rule hygiene checks (shadowed, redundant, quota, telnet) look at each group alone.
A group suppresses a finding about itself with `ignore_findings = ["<check id>", …]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

from sgplan.analysis.access import Evaluation, Evaluator, evaluate
from sgplan.analysis.exposure import AccessView
from sgplan.analysis.space import (
    V4,
    V6,
    Traffic,
    canonical,
    merge_intervals,
    network_interval,
    ports_text,
)
from sgplan.model import DEFAULT_RULES_PER_DIRECTION, MAX_GROUPS_PER_INSTANCE, Direction, Rule, SourceRange

SEVERITIES = ("low", "medium", "high")


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found. `rule` is the check id; `address` the group (or instance) it is about."""

    rule: str
    severity: str
    address: str
    message: str
    group_id: str | None = None
    instance_id: str | None = None
    origin: SourceRange | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "rule": self.rule,
            "severity": self.severity,
            "address": self.address,
            "message": self.message,
        }
        if self.group_id:
            out["group_id"] = self.group_id
        if self.instance_id:
            out["instance_id"] = self.instance_id
        if self.origin is not None:
            out["file"], out["line"] = self.origin.file, self.origin.line
        return out

    def __str__(self) -> str:
        where = f"{self.origin.file}:{self.origin.line}: " if self.origin else ""
        return f"{where}{self.severity}: {self.rule}: {self.address}: {self.message}"


@dataclass(frozen=True, slots=True)
class Position:
    """Where a rule of a concatenated policy comes from."""

    group_key: str
    index: int
    rule: Rule


@dataclass(frozen=True, slots=True)
class Subject:
    """A policy under evaluation: one distinct ordered group list (its instances) or one unbound group."""

    group_keys: tuple[str, ...]
    instance_ids: tuple[str, ...]  # empty for an unbound group evaluated alone


class CheckContext:
    """The state the checks read, with one evaluation cache for all of them."""

    def __init__(self, view: AccessView, *, rule_quota: int = DEFAULT_RULES_PER_DIRECTION) -> None:
        self.view = view
        self.rule_quota = rule_quota
        self._evaluator = Evaluator(view.templates)
        self._per_rule: dict[tuple[Rule, ...], Evaluation] = {}

    def evaluate(self, rules: Sequence[Rule], *, per_rule: bool = False) -> Evaluation:
        if not per_rule:
            return self._evaluator(rules)
        key = tuple(rules)
        if key not in self._per_rule:
            self._per_rule[key] = evaluate(key, self.view.templates, per_rule=True)
        return self._per_rule[key]

    def subjects(self) -> list[Subject]:
        by_list: dict[tuple[str, ...], list[str]] = {}
        for instance_id, keys in sorted(self.view.instances.items()):
            by_list.setdefault(tuple(keys), []).append(instance_id)
        subjects = [Subject(keys, tuple(ids)) for keys, ids in by_list.items() if keys]
        bound = self.view.bound_keys()
        subjects += [Subject((key,), ()) for key in sorted(self.view.groups) if key not in bound]
        return subjects

    def positions(self, group_keys: Sequence[str], direction: Direction) -> list[Position]:
        out = []
        for key in group_keys:
            group = self.view.groups.get(key)
            if group is None:
                continue
            rules = self.view.rules((key,), direction)
            out.extend(Position(key, i, rule) for i, rule in enumerate(rules))
        return out

    def address(self, group_key: str) -> str:
        group = self.view.groups.get(group_key)
        return (group.address if group is not None and group.address else None) or group_key


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    severity: str
    title: str
    run: Callable[[CheckContext, "Check"], Iterable[Finding]]

    def __call__(self, context: CheckContext) -> Iterable[Finding]:
        return self.run(context, self)


# ---------------------------------------------------------------------------------------------
# Internet exposure

# Not reachable from the internet: RFC 1918, loopback, link-local, CGNAT, multicast, reserved…
_NOT_PUBLIC_V4 = [
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
    "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
]  # fmt: skip
_PUBLIC_V6 = [(0x2000 << 112, (0x4000 << 112) - 1)]  # 2000::/3, global unicast
# "Open to the internet": reachable from at least a /8 of public IPv4 or a /16 of public IPv6.
# A single office address is a decision; a /8 or 0.0.0.0/0 is the internet.
_THRESHOLD = {V4: 1 << 24, V6: 1 << 112}


def _public_v4() -> list[tuple[int, int]]:
    blocked = merge_intervals(network_interval(n)[1:] for n in _NOT_PUBLIC_V4)
    out, start = [], 0
    for lo, hi in blocked:
        if lo > start:
            out.append((start, lo - 1))
        start = hi + 1
    if start <= (1 << 32) - 1:
        out.append((start, (1 << 32) - 1))
    return out


_PUBLIC = {V4: _public_v4(), V6: _PUBLIC_V6}


def _public_size(realm: str, peers: Iterable[tuple[int, int]]) -> int:
    total = 0
    for lo, hi in peers:
        for p_lo, p_hi in _PUBLIC[realm]:
            if lo <= p_hi and p_lo <= hi:
                total += min(hi, p_hi) - max(lo, p_lo) + 1
    return total


def internet_ports(allowed: Traffic, protocol: str) -> list[tuple[int, int]]:
    """Port intervals of `protocol` reachable from the internet (see `_THRESHOLD`)."""
    out: list[tuple[int, int]] = []
    for realm in (V4, V6):
        for ports, peers in canonical(allowed.boxes(protocol, realm)):
            if _public_size(realm, peers) >= _THRESHOLD[realm]:
                out.append(ports)
    return merge_intervals(out)


def _overlap(a: Iterable[tuple[int, int]], b: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    b = list(b)
    return [(max(x, y), min(p, q)) for x, p in a for y, q in b if x <= q and y <= p]


def _grantor(ev: Evaluation, positions: Sequence[Position], protocol: str, ports: list[tuple[int, int]]) -> Position | None:
    """The accepting rule that admits the most public addresses on these ports."""
    best, best_size = None, 0
    for pos, decided in zip(positions, ev.decided):
        if pos.rule.action != "ACCEPT":
            continue
        size = 0.0
        for realm in (V4, V6):
            for seg_ports, peers in canonical(decided.boxes(protocol, realm)):
                if _overlap([seg_ports], ports):
                    size += _public_size(realm, peers) / _THRESHOLD[realm]
        if size > best_size:
            best, best_size = pos, size
    return best


def _exposure_check(protocol_ports: Sequence[tuple[str, list[tuple[int, int]]]], service: str, whole: bool = False):
    """A check that fires when these ports are open to the internet after first-match."""

    def run(context: CheckContext, check: Check) -> Iterator[Finding]:
        for subject in context.subjects():
            positions = context.positions(subject.group_keys, Direction.INGRESS)
            if not positions:
                continue
            ev = context.evaluate([p.rule for p in positions], per_rule=True)
            for protocol, wanted in protocol_ports:
                open_ports = internet_ports(ev.allowed, protocol)
                hit = open_ports == [(1, 65535)] if whole else bool(_overlap(open_ports, wanted))
                if not hit:
                    continue
                ports = wanted if whole else _overlap(open_ports, wanted)
                grantor = _grantor(ev, positions, protocol, ports)
                yield _exposure_finding(context, check, subject, protocol, ports, grantor, service)
                break

    return run


def _exposure_finding(
    context: CheckContext, check: Check, subject: Subject, protocol: str, ports: list[tuple[int, int]],
    grantor: Position | None, service: str,
) -> Finding:
    group_key = grantor.group_key if grantor else subject.group_keys[0]
    peer = grantor.rule.peer if grantor else "the internet"
    where = f"ingress[{grantor.index}] " if grantor else ""
    if subject.instance_ids:
        more = len(subject.instance_ids) - 1
        scope = f"on {subject.instance_ids[0]}" + (f" and {more} more instance(s)" if more else "")
    else:
        scope = "in this group (bound to no instance)"
    message = f"{service} ({protocol} {ports_text(ports)}) is open to the internet from {peer} by {where}{scope}"
    return Finding(
        rule=check.id,
        severity=check.severity,
        address=context.address(group_key),
        message=message,
        group_id=group_key,
        instance_id=subject.instance_ids[0] if subject.instance_ids else None,
        origin=(grantor.rule.origin if grantor and grantor.rule.origin else _group_origin(context, group_key)),
    )


def _group_origin(context: CheckContext, group_key: str) -> SourceRange | None:
    group = context.view.groups.get(group_key)
    return group.origin if group is not None else None


DATABASE_PORTS = [(3306, 3306), (5432, 5432), (1433, 1433), (1521, 1521), (6379, 6379), (27017, 27017), (9200, 9200)]


# ---------------------------------------------------------------------------------------------
# Rule hygiene (per group, alone)


def _groups(context: CheckContext) -> Iterator[tuple[str, Direction, list[Position]]]:
    for key in sorted(context.view.groups):
        for direction in Direction:
            positions = context.positions((key,), direction)
            if positions:
                yield key, direction, positions


def _rule_finding(context: CheckContext, check: Check, key: str, direction: Direction, pos: Position,
                  message: str, severity: str | None = None) -> Finding:
    return Finding(
        rule=check.id,
        severity=severity or check.severity,
        address=context.address(key),
        message=f"{direction.value}[{pos.index}] ({_describe(pos.rule)}): {message}",
        group_id=key,
        origin=pos.rule.origin or _group_origin(context, key),
    )


def _describe(rule: Rule) -> str:
    return f"{rule.action} {rule.service} {rule.peer}"


def _shadowed(context: CheckContext, check: Check) -> Iterator[Finding]:
    for key, direction, positions in _groups(context):
        rules = [p.rule for p in positions]
        ev = context.evaluate(rules, per_rule=True)
        for i, (pos, decided) in enumerate(zip(positions, ev.decided)):
            if not decided.is_empty():
                continue
            earlier = context.evaluate(rules[:i])
            own = context.evaluate([Rule("ACCEPT", **_fields(pos.rule))]).allowed
            opposite = earlier.denied if pos.rule.action == "ACCEPT" else earlier.allowed
            conflicting = not (own & opposite).is_empty()
            message = "never matches: earlier rules cover all its traffic"
            if conflicting:
                message += " and decide part of it the other way"
            yield _rule_finding(context, check, key, direction, pos, message, "medium" if conflicting else "low")


def _fields(rule: Rule) -> dict:
    names = ("protocol", "port", "cidr_block", "ipv6_cidr_block", "security_group_id", "address_template_id",
             "address_template_group_id", "service_template_id", "service_template_group_id")
    return {n: getattr(rule, n) for n in names}


def _redundant(context: CheckContext, check: Check) -> Iterator[Finding]:
    """Reached, but the rules after it decide its traffic the same way (group alone)."""
    for key, direction, positions in _groups(context):
        rules = [p.rule for p in positions]
        ev = context.evaluate(rules, per_rule=True)
        for i, (pos, decided) in enumerate(zip(positions, ev.decided)):
            if decided.is_empty():
                continue  # shadowed: reported by rule-shadowed
            after = context.evaluate(rules[i + 1 :])
            same = after.allowed if pos.rule.action == "ACCEPT" else after.denied
            if (decided - same).is_empty():
                yield _rule_finding(context, check, key, direction, pos, "removing it changes nothing: later rules decide its traffic the same way")


def _over_quota(context: CheckContext, check: Check) -> Iterator[Finding]:
    for key in sorted(context.view.groups):
        group = context.view.groups[key]
        for direction in Direction:
            count = len(group.rules(direction))
            if count > context.rule_quota:
                yield Finding(check.id, check.severity, context.address(key),
                              f"{count} {direction.value} rules: more than the quota of {context.rule_quota}",
                              group_id=key, origin=group.origin)


def _too_many_groups(context: CheckContext, check: Check) -> Iterator[Finding]:
    for instance_id, keys in sorted(context.view.instances.items()):
        if len(keys) > MAX_GROUPS_PER_INSTANCE:
            yield Finding(check.id, check.severity, instance_id,
                          f"carries {len(keys)} security groups: the cloud allows at most {MAX_GROUPS_PER_INSTANCE}",
                          instance_id=instance_id)


def _telnet_in_use(context: CheckContext, check: Check) -> Iterator[Finding]:
    for key, direction, positions in _groups(context):
        if direction is not Direction.INGRESS:
            continue
        ev = context.evaluate([p.rule for p in positions], per_rule=True)
        for pos, decided in zip(positions, ev.decided):
            if pos.rule.action != "ACCEPT":
                continue
            if any(_overlap([ports], [(23, 23)]) for realm in (V4, V6, *decided.symbols, "*")
                   for ports, _ in canonical(decided.boxes("TCP", realm))):
                yield _rule_finding(context, check, key, direction, pos, "admits telnet (TCP 23), which sends passwords in clear text; use SSH")
                break


def _exposure(check_id: str, severity: str, title: str, protocol_ports, service: str, whole: bool = False) -> Check:
    return Check(check_id, severity, title, _exposure_check(protocol_ports, service, whole))


CHECKS: tuple[Check, ...] = (
    _exposure("ssh-open-to-internet", "high", "SSH open to the internet", [("TCP", [(22, 22)])], "SSH"),
    _exposure("rdp-open-to-internet", "high", "RDP open to the internet", [("TCP", [(3389, 3389)])], "RDP"),
    _exposure("telnet-open-to-internet", "high", "Telnet open to the internet", [("TCP", [(23, 23)])], "Telnet"),
    _exposure("ftp-open-to-internet", "medium", "FTP open to the internet", [("TCP", [(20, 21)])], "FTP"),
    _exposure("database-open-to-internet", "high", "Database port open to the internet", [("TCP", DATABASE_PORTS)], "database"),
    _exposure("all-ports-open-to-internet", "high", "Every port open to the internet",
              [("TCP", [(1, 65535)]), ("UDP", [(1, 65535)])], "every port", whole=True),
    Check("rule-shadowed", "low", "Rule can never match", _shadowed),
    Check("rule-redundant", "low", "Rule changes nothing", _redundant),
    Check("group-over-rule-quota", "high", "More rules than the group quota", _over_quota),
    Check("instance-over-5-groups", "high", "More than 5 groups on one instance", _too_many_groups),
    Check("telnet-in-use", "medium", "Telnet allowed", _telnet_in_use),
)

CHECK_IDS = tuple(c.id for c in CHECKS)


def run_checks(view: AccessView, checks: Sequence[Check] = CHECKS, *, rule_quota: int = DEFAULT_RULES_PER_DIRECTION) -> list[Finding]:
    """Every finding of `checks` on the view, minus those a group suppresses, highest severity first."""
    context = CheckContext(view, rule_quota=rule_quota)
    findings: list[Finding] = []
    for check in checks:
        for finding in check(context):
            group = view.groups.get(finding.group_id) if finding.group_id else None
            if group is not None and (finding.rule in group.ignore_findings or "*" in group.ignore_findings):
                continue
            findings.append(finding)
    findings.sort(key=lambda f: (-severity_rank(f.severity), f.address, f.rule, f.message))
    return findings


def fails(findings: Iterable[Finding], fail_on: str | None) -> bool:
    """`--fail-on`: is there a finding at or above this severity?"""
    if fail_on is None:
        return False
    threshold = severity_rank(fail_on)
    return any(severity_rank(f.severity) >= threshold for f in findings)
