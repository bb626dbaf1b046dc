"""Policy findings (`sgplan check`, plan `findings`): a `CHECKS` tuple of state → findings functions.

Exposure checks run *after* first-match evaluation: per instance on its effective policy (its
groups in binding order, so a DROP in an earlier group counts), and per group for groups bound
to no instance. Rule hygiene checks (shadowed, redundant, quota, telnet) look at each group alone.
A group suppresses a finding about itself with `ignore_findings = ["<check id>", …]`. Each group
is evaluated once (`layers.py`); a `Scope` limits the findings to some instances and groups.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

from sgplan.analysis.access import Evaluation, Evaluator, evaluate, gc_paused
from sgplan.analysis.exposure import AccessView
from sgplan.analysis.internet import THRESHOLD, internet_ports, open_ports, public_size
from sgplan.analysis.layers import Layer
from sgplan.analysis.space import V4, V6, Box, canonical, cut_out, merge_intervals, ports_text
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


@dataclass(frozen=True, slots=True)
class Scope:
    """The instances and groups to report on (plan-time findings: what the plan changes)."""

    instances: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()


class CheckContext:
    """The state the checks read, with one evaluation cache for all of them."""

    def __init__(self, view: AccessView, *, rule_quota: int = DEFAULT_RULES_PER_DIRECTION,
                 scope: Scope | None = None, evaluator: Evaluator | None = None,
                 signature: Callable[[str, Direction], int] | None = None) -> None:
        self.view = view
        self.rule_quota = rule_quota
        self.scope = scope
        self.evaluator = evaluator or Evaluator(view.templates)
        # `evaluator`'s signature of a group's rules when the caller knows it already (a plan's
        # comparison signed most groups without an access key: exposure.Comparison).
        self.signature = signature
        self._layers: dict[tuple[str, Direction], Layer] = {}
        self._open: dict[tuple, list[tuple[int, int]]] = {}
        self._positions: dict[tuple[str, Direction], list[Position]] = {}
        self.watch: dict[str, tuple[tuple[int, int], ...]] = {}

    def evaluate(self, rules: Sequence[Rule], *, per_rule: bool = False) -> Evaluation:
        if not per_rule:
            return self.evaluator(rules)
        return evaluate(rules, self.view.templates, per_rule=True)

    def layer(self, key: str, direction: Direction) -> Layer:
        found = self._layers.get((key, direction))
        if found is None:
            if self.signature is not None:
                signature = self.signature(key, direction)
            else:
                rules = self.view.group_rules(key, direction)
                signature = self.evaluator.signature(rules, self.view.access_key(key, direction))
            found = self._layers[(key, direction)] = self.evaluator.layer_of(signature)
        return found

    def subjects(self) -> list[Subject]:
        scope = self.scope
        by_list: dict[tuple[str, ...], list[str]] = {}
        for instance_id, keys in sorted(self.view.instances.items()):
            if scope is None or instance_id in scope.instances:
                by_list.setdefault(tuple(keys), []).append(instance_id)
        subjects = [Subject(keys, tuple(ids)) for keys, ids in by_list.items() if keys]
        bound = self.view.bound_keys()
        subjects += [Subject((key,), ()) for key in self.group_keys() if key not in bound]
        return subjects

    def group_keys(self) -> list[str]:
        """The groups to report on, sorted."""
        if self.scope is None:
            return sorted(self.view.groups)
        return sorted(k for k in self.view.groups if k in self.scope.groups)

    def positions(self, group_keys: Sequence[str], direction: Direction) -> list[Position]:
        out: list[Position] = []
        for key in group_keys:
            found = self._positions.get((key, direction))
            if found is None:
                rules = self.view.group_rules(key, direction) if key in self.view.groups else ()
                found = self._positions[(key, direction)] = [Position(key, i, rule) for i, rule in enumerate(rules)]
            out.extend(found)
        return out

    def open_ports(self, group_keys: tuple[str, ...], protocol: str, wanted: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
        """Ports among `wanted` open to the internet on a policy of these groups (ingress).

        Wanted ports within the checks' watched ports are answered from one evaluation of all
        the watched ports of that protocol, so six exposure checks cost one stack per list.
        """
        watched = self.watch.get(protocol, ())
        if watched and all(any(w_lo <= lo and hi <= w_hi for w_lo, w_hi in watched) for lo, hi in wanted):
            return merge_intervals(_overlap(self._open_ports(group_keys, protocol, watched), wanted))
        return self._open_ports(group_keys, protocol, wanted)

    def _open_ports(self, group_keys: tuple[str, ...], protocol: str, wanted: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
        memo = (group_keys, protocol, wanted)
        found = self._open.get(memo)
        if found is None:
            layers = [self.layer(k, Direction.INGRESS) for k in group_keys]
            found = self._open[memo] = open_ports(layers, protocol, wanted)
        return found

    def address(self, group_key: str) -> str:
        group = self.view.groups.get(group_key)
        return (group.address if group is not None and group.address else None) or group_key


@dataclass(frozen=True, slots=True)
class Check:
    """One check: `run(context, check)` yields findings. `watch` names the (protocol, ports) an
    exposure check asks about, so the context can answer all of them from one evaluation."""

    id: str
    severity: str
    title: str
    run: Callable[[CheckContext, "Check"], Iterable[Finding]]
    watch: tuple[tuple[str, tuple[tuple[int, int], ...]], ...] = ()

    def __call__(self, context: CheckContext) -> Iterable[Finding]:
        return self.run(context, self)


# ---------------------------------------------------------------------------------------------
# Internet exposure (what "the internet" is: internet.py)

__all__ = ["CHECKS", "CHECK_IDS", "Check", "CheckContext", "Finding", "Scope", "fails", "internet_ports", "run_checks"]


def _overlap(a: Iterable[tuple[int, int]], b: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    b = list(b)
    return [(max(x, y), min(p, q)) for x, p in a for y, q in b if x <= q and y <= p]


def _grantor(context: CheckContext, group_keys: Sequence[str], protocol: str,
             ports: list[tuple[int, int]]) -> Position | None:
    """The accepting rule that admits the most public addresses on these ports (after first match)."""
    best, best_size = None, 0.0
    layers = [context.layer(k, Direction.INGRESS) for k in group_keys]
    for g, key in enumerate(group_keys):
        layer = layers[g]
        for i, rule in enumerate(context.view.group_rules(key, Direction.INGRESS)):
            if rule.action != "ACCEPT":
                continue
            size = 0.0
            for realm in (V4, V6):
                part = (protocol, realm)
                boxes: list[Box] = [b for k, b in layer.decided[i] if k == part and _overlap([(b[2], b[3])], ports)]
                for upper in layers[:g]:
                    boxes = upper.cut(part, boxes)
                for seg_ports, peers in canonical(boxes):
                    if _overlap([seg_ports], ports):
                        size += public_size(realm, peers) / THRESHOLD[realm]
            if size > best_size:
                best, best_size = Position(key, i, rule), size
    return best


_PROBE = ((1, 1),)  # "every port open" needs port 1 open: a cheap test before the whole range


def _exposure_check(protocol_ports: Sequence[tuple[str, list[tuple[int, int]]]], service: str, whole: bool = False):
    """A check that fires when these ports are open to the internet after first-match."""

    def run(context: CheckContext, check: Check) -> Iterator[Finding]:
        for subject in context.subjects():
            keys = subject.group_keys
            if not any(context.view.group_rules(k, Direction.INGRESS) for k in keys):
                continue
            for protocol, wanted in protocol_ports:
                if whole:
                    if not context.open_ports(keys, protocol, _PROBE):
                        continue
                    if context.open_ports(keys, protocol, ((1, 65535),)) != [(1, 65535)]:
                        continue
                    ports = list(wanted)
                else:
                    ports = context.open_ports(keys, protocol, tuple(sorted(wanted)))
                    if not ports:
                        continue
                grantor = _grantor(context, keys, protocol, ports)
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


def _groups(context: CheckContext) -> Iterator[tuple[str, Direction, list[Position], Layer]]:
    for key in context.group_keys():
        for direction in Direction:
            positions = context.positions((key,), direction)
            if positions:
                yield key, direction, positions, context.layer(key, direction)


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
    for key, direction, positions, layer in _groups(context):
        rules = [p.rule for p in positions]
        for i, pos in enumerate(positions):
            if layer.decided[i]:
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


def is_redundant(layer: Layer, actions: Sequence[str], index: int) -> bool:
    """Would the rules after `index` decide everything rule `index` decides, the same way?

    One forward scan of the later rules over what the rule decides: a later rule of the other
    action touching it, or traffic left over at the end (it would fall through the group), means
    the rule matters. A shadowed rule (deciding nothing) is not called redundant.
    """
    if not layer.overlapped[index]:  # nothing later even touches it: it falls through
        return False
    left = layer.decided_parts(index)
    if not left:
        return False
    action = actions[index]
    for j in range(index + 1, len(actions)):
        for key, box in layer.matches[j]:
            pieces = left.get(key)
            if not pieces:
                continue
            a0, a1, a2, a3 = box
            if not any(c[0] <= a1 and a0 <= c[1] and c[2] <= a3 and a2 <= c[3] for c in pieces):
                continue
            if actions[j] != action:
                return False
            pieces = cut_out(pieces, box)
            if pieces:
                left[key] = pieces
            else:
                del left[key]
        if not left:
            return True
    return False


def _redundant(context: CheckContext, check: Check) -> Iterator[Finding]:
    """Reached, but the rules after it decide its traffic the same way (group alone)."""
    for key, direction, positions, layer in _groups(context):
        actions = [p.rule.action for p in positions]
        overlapped = layer.overlapped
        for i, pos in enumerate(positions):
            if overlapped[i] and is_redundant(layer, actions, i):
                yield _rule_finding(context, check, key, direction, pos, "removing it changes nothing: later rules decide its traffic the same way")


def _over_quota(context: CheckContext, check: Check) -> Iterator[Finding]:
    for key in context.group_keys():
        group = context.view.groups[key]
        for direction in Direction:
            count = len(group.rules(direction))
            if count > context.rule_quota:
                yield Finding(check.id, check.severity, context.address(key),
                              f"{count} {direction.value} rules: more than the quota of {context.rule_quota}",
                              group_id=key, origin=group.origin)


def _too_many_groups(context: CheckContext, check: Check) -> Iterator[Finding]:
    scope = context.scope
    for instance_id, keys in sorted(context.view.instances.items()):
        if scope is not None and instance_id not in scope.instances:
            continue
        if len(keys) > MAX_GROUPS_PER_INSTANCE:
            yield Finding(check.id, check.severity, instance_id,
                          f"carries {len(keys)} security groups: the cloud allows at most {MAX_GROUPS_PER_INSTANCE}",
                          instance_id=instance_id)


def _telnet_in_use(context: CheckContext, check: Check) -> Iterator[Finding]:
    for key, direction, positions, layer in _groups(context):
        if direction is not Direction.INGRESS:
            continue
        for i, pos in enumerate(positions):
            if pos.rule.action != "ACCEPT":
                continue
            if any(key[0] == "TCP" and b[2] <= 23 <= b[3] for key, b in layer.decided[i]):
                yield _rule_finding(context, check, key, direction, pos, "admits telnet (TCP 23), which sends passwords in clear text; use SSH")


def _unused_group(context: CheckContext, check: Check) -> Iterator[Finding]:
    """Tencent Cloud Config `cvm-no-sg` ("no idle security groups"): a group no instance carries.

    Only CVM bindings are visible to sgplan, so the message says so: a group used by another
    product (CLB, a database) is reported too; suppress it with `ignore_findings`.
    """
    bound = context.view.bound_keys()
    for key in context.group_keys():
        if key in bound:
            continue
        yield Finding(check.id, check.severity, context.address(key),
                      "is bound to no CVM instance (idle): delete it, bind it, or add "
                      f'ignore_findings = ["{check.id}"] if another product uses it',
                      group_id=key, origin=_group_origin(context, key))


# Remote administration besides SSH, RDP and telnet (their own checks): VNC and WinRM.
REMOTE_ACCESS_PORTS = [(5900, 5900), (5985, 5986)]


def _exposure(check_id: str, severity: str, title: str, protocol_ports, service: str, whole: bool = False) -> Check:
    watch = tuple((protocol, _PROBE if whole else tuple(sorted(ports))) for protocol, ports in protocol_ports)
    return Check(check_id, severity, title, _exposure_check(protocol_ports, service, whole), watch)


CHECKS: tuple[Check, ...] = (
    _exposure("ssh-open-to-internet", "high", "SSH open to the internet", [("TCP", [(22, 22)])], "SSH"),
    _exposure("rdp-open-to-internet", "high", "RDP open to the internet", [("TCP", [(3389, 3389)])], "RDP"),
    _exposure("telnet-open-to-internet", "high", "Telnet open to the internet", [("TCP", [(23, 23)])], "Telnet"),
    _exposure("ftp-open-to-internet", "medium", "FTP open to the internet", [("TCP", [(20, 21)])], "FTP"),
    _exposure("remote-access-open-to-internet", "high", "Remote administration port open to the internet",
              [("TCP", REMOTE_ACCESS_PORTS)], "remote administration (VNC, WinRM)"),
    _exposure("database-open-to-internet", "high", "Database port open to the internet", [("TCP", DATABASE_PORTS)], "database"),
    _exposure("all-ports-open-to-internet", "high", "Every port open to the internet",
              [("TCP", [(1, 65535)]), ("UDP", [(1, 65535)])], "every port", whole=True),
    Check("rule-shadowed", "low", "Rule can never match", _shadowed),
    Check("rule-redundant", "low", "Rule changes nothing", _redundant),
    Check("group-over-rule-quota", "high", "More rules than the group quota", _over_quota),
    Check("instance-over-5-groups", "high", "More than 5 groups on one instance", _too_many_groups),
    Check("telnet-in-use", "medium", "Telnet allowed", _telnet_in_use),
    Check("group-unused", "medium", "Group bound to no instance", _unused_group),
)

CHECK_IDS = tuple(c.id for c in CHECKS)


def run_checks(view: AccessView, checks: Sequence[Check] = CHECKS, *, rule_quota: int = DEFAULT_RULES_PER_DIRECTION,
               scope: Scope | None = None, evaluator: Evaluator | None = None,
               signature: Callable[[str, Direction], int] | None = None) -> list[Finding]:
    """Every finding of `checks` on the view, minus those a group suppresses, highest severity first.

    `scope` limits the findings to some instances (exposure, group count) and groups (hygiene,
    quota, exposure of unbound groups); `sgplan check` passes none and reports everything.
    `signature(group key, direction)`, when given, is `evaluator`'s signature of that group's
    rules in the view (exposure.Comparison.signature), known without an access key.
    """
    with gc_paused():
        return _run_checks(view, checks, rule_quota, scope, evaluator, signature)


def _run_checks(view: AccessView, checks: Sequence[Check], rule_quota: int, scope: Scope | None,
                evaluator: Evaluator | None, signature: Callable[[str, Direction], int] | None = None) -> list[Finding]:
    context = CheckContext(view, rule_quota=rule_quota, scope=scope, evaluator=evaluator, signature=signature)
    watched: dict[str, list[tuple[int, int]]] = {}
    for check in checks:
        for protocol, ports in check.watch:
            watched.setdefault(protocol, []).extend(ports)
    context.watch = {protocol: tuple(merge_intervals(ports)) for protocol, ports in watched.items()}
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
