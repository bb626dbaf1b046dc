"""The reliability harness: random before/after configurations (hypothesis), runs of the real CLI
against the HTTP fake, and an exposure checker that works on the recorded cloud states with the
access engine alone (it never looks at the planner's ordering code).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from sgplan.analysis.access import evaluate
from sgplan.model import Direction, Rule
from tests.e2e.cli import run as cli  # `sgplan ARGS` in-process: (exit code, stdout, stderr)

STACK = "rel"
REGION = "ap-guangzhou"
EXTERNAL = "sg-ext00001"  # an unmanaged group: never changed, may sit in bindings
INSTANCES = ("ins-r0000000", "ins-r0000001", "ins-r0000002", "ins-r0000003")
FREE_INSTANCE = "ins-free0000"  # named by no binding: never touched
ADDRESSES = ("g0", "g1", "g2", "g3")
CIDRS = ("0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16", "1.2.3.4/32", "1.2.3.0/24")
SERVICES = (("TCP", "22"), ("TCP", "80"), ("TCP", "20-25"), ("TCP", "ALL"), ("UDP", "53"), ("ALL", None))


# ---------------------------------------------------------------------------------------------
# Configurations


@dataclass(frozen=True)
class RuleSpec:
    action: str
    protocol: str
    port: str | None
    cidr: str | None = None
    ref: str | None = None  # address label of another managed group

    def key(self) -> tuple:
        return (self.action, self.protocol, self.port, self.cidr, self.ref)


@dataclass(frozen=True)
class Config:
    groups: dict[str, dict[str, tuple[RuleSpec, ...]]]  # label → direction → rules
    bindings: dict[str, tuple[str, ...]]  # instance → labels or EXTERNAL, in order

    def hcl(self) -> str:
        out = ["sgplan {", f'  region = "{REGION}"', f'  stack  = "{STACK}"', "}", ""]
        for label, directions in self.groups.items():
            out += [f'security_group "{label}" {{', f'  name = "{label}"']
            for direction in ("ingress", "egress"):
                for rule in directions[direction]:
                    out += [f"  {direction} {{", f'    action = "{rule.action}"', f'    protocol = "{rule.protocol}"']
                    if rule.port is not None:
                        out.append(f'    port = "{rule.port}"')
                    if rule.ref is not None:
                        out.append(f"    security_group_id = security_group.{rule.ref}.id")
                    else:
                        out.append(f'    cidr_block = "{rule.cidr}"')
                    out.append("  }")
            out += ["}", ""]
        for instance, groups in self.bindings.items():
            refs = ", ".join(f'"{g}"' if g == EXTERNAL else f"security_group.{g}.id" for g in groups)
            out += [f'binding "b_{instance.replace("-", "_")}" {{', f'  instance_ids = ["{instance}"]',
                    f"  security_groups = [{refs}]", "}", ""]
        return "\n".join(out)


@st.composite
def rules(draw: st.DrawFn, labels: tuple[str, ...]) -> tuple[RuleSpec, ...]:
    out: dict[tuple, RuleSpec] = {}
    for _ in range(draw(st.integers(0, 4))):
        protocol, port = draw(st.sampled_from(SERVICES))
        action = draw(st.sampled_from(("ACCEPT", "DROP")))
        if labels and draw(st.integers(0, 5)) == 0:
            spec = RuleSpec(action, protocol, port, ref=draw(st.sampled_from(labels)))
        else:
            spec = RuleSpec(action, protocol, port, cidr=draw(st.sampled_from(CIDRS)))
        out.setdefault(spec.key(), spec)
    return tuple(out.values())


@st.composite
def configs(draw: st.DrawFn) -> Config:
    labels = tuple(draw(st.lists(st.sampled_from(ADDRESSES), min_size=1, max_size=4, unique=True)))
    groups = {label: {"ingress": draw(rules(labels)), "egress": draw(rules(labels))} for label in sorted(labels)}
    bindings = {}
    for instance in INSTANCES:
        if draw(st.booleans()):
            pool = list(labels) + [EXTERNAL]
            bindings[instance] = tuple(draw(st.lists(st.sampled_from(pool), min_size=1, max_size=min(5, len(pool)), unique=True)))
    return Config(groups, bindings)


change_sets = st.tuples(configs(), configs())


def initial_state() -> dict[str, Any]:
    """The cloud before sgplan: one unmanaged group on every instance."""
    ext = {
        "SecurityGroupId": EXTERNAL, "SecurityGroupName": "external", "TagSet": [],
        "SecurityGroupPolicySet": {"Version": "1", "Ingress": [
            {"Protocol": "TCP", "Port": "443", "CidrBlock": "0.0.0.0/0", "Action": "ACCEPT", "PolicyDescription": ""}],
            "Egress": []},
    }
    instances = [{"InstanceId": i, "SecurityGroupIds": [EXTERNAL]} for i in (*INSTANCES, FREE_INSTANCE)]
    return {"Region": REGION, "SecurityGroups": [ext], "Instances": instances}


# ---------------------------------------------------------------------------------------------
# Running the CLI


def write_config(directory: Path, config: Config) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.sg.hcl").write_text(config.hcl())
    return directory


APPLY_FLAGS = ("--auto-approve", "--allow-destroy", "--allow-transient-exposure")


# ---------------------------------------------------------------------------------------------
# Checks on recorded states


def _groups(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["SecurityGroupId"]: g for g in state.get("SecurityGroups", [])}


def _rules(group: dict[str, Any] | None, direction: Direction) -> tuple[Rule, ...]:
    if group is None:
        return ()
    return tuple(Rule.from_api(p) for p in (group.get("SecurityGroupPolicySet") or {}).get(direction.api) or ())


def _subjects(state: dict[str, Any]) -> dict[str, tuple[Rule, ...] | None]:
    """Every instance's and every group's rule lists, per direction, from a state file."""
    groups = _groups(state)
    out: dict[str, Any] = {}
    for direction in Direction:
        for instance in state.get("Instances", []):
            keys = instance.get("SecurityGroupIds") or []
            out[f"{instance['InstanceId']} {direction.value}"] = tuple(r for k in keys for r in _rules(groups.get(k), direction))
        for gid, group in groups.items():
            out[f"{gid} {direction.value}"] = _rules(group, direction)
    return out


def exposure_violations(before: dict[str, Any], after: dict[str, Any], recorded: list[dict[str, Any]]) -> list[str]:
    """Subjects (instance or group, direction) that a recorded state lets traffic through that
    neither `before` nor `after` allows — computed with the access engine on each state."""
    ends = [_subjects(before), _subjects(after)]
    cache: dict[tuple[Rule, ...], Any] = {}

    def allowed(rules: tuple[Rule, ...]):
        if rules not in cache:
            cache[rules] = evaluate(rules).allowed
        return cache[rules]

    found = []
    for number, state in enumerate(recorded):
        for subject, middle in _subjects(state).items():
            old, new = ends[0].get(subject, ()), ends[1].get(subject, ())
            if middle in (old, new):
                continue
            extra = allowed(middle) - (allowed(old) | allowed(new))
            if not extra.is_empty():
                found.append(f"state {number}: {subject}")
    return found


def managed_matches(state: dict[str, Any], config: Config) -> list[str]:
    """Differences between the cloud's managed groups and the configuration (lost/duplicated rules)."""
    problems = []
    by_label: dict[str, list[dict[str, Any]]] = {}
    for group in state["SecurityGroups"]:
        tags = {t["Key"]: t["Value"] for t in group.get("TagSet") or []}
        if tags.get("sgplan-stack") == STACK:
            by_label.setdefault(tags.get("sgplan-address", "").rpartition(".")[2], []).append(group)
    if sorted(by_label) != sorted(config.groups) or any(len(v) != 1 for v in by_label.values()):
        return [f"managed groups {sorted((k, len(v)) for k, v in by_label.items())} != {sorted(config.groups)}"]
    ids = {label: groups[0]["SecurityGroupId"] for label, groups in by_label.items()}
    for label, directions in config.groups.items():
        for direction in Direction:
            want = tuple(
                Rule.from_api({"Action": r.action, "Protocol": r.protocol, "Port": r.port or "",
                               "CidrBlock": r.cidr or "", "SecurityGroupId": ids.get(r.ref or "", "")})
                for r in directions[direction.value]
            )
            got = _rules(by_label[label][0], direction)
            if got != want:
                problems.append(f"{label} {direction.value}: {len(got)} rules live, {len(want)} configured")
    instances = {i["InstanceId"]: i["SecurityGroupIds"] for i in state["Instances"]}
    for instance, labels in config.bindings.items():
        want_ids = [g if g == EXTERNAL else ids[g] for g in labels]
        if instances.get(instance) != want_ids:
            problems.append(f"{instance} carries {instances.get(instance)}, configured {want_ids}")
    return problems


def unmanaged_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Unmanaged groups whose rules or Version moved, and the free instance if touched."""
    problems = []
    old, new = _groups(before), _groups(after)
    for gid, group in old.items():
        tags = {t["Key"] for t in group.get("TagSet") or []}
        if "sgplan-stack" in tags:
            continue
        if gid not in new or new[gid]["SecurityGroupPolicySet"] != group["SecurityGroupPolicySet"]:
            problems.append(f"unmanaged {gid} changed")
    free = lambda s: [i for i in s["Instances"] if i["InstanceId"] == FREE_INSTANCE]  # noqa: E731
    if free(before) != free(after):
        problems.append(f"{FREE_INSTANCE} touched")
    return problems


@dataclass
class Tally:
    """Figures of one reliability run, printed at the end."""

    runs: int = 0
    converged: int = 0
    violations: int = 0
    lost_or_duplicated: int = 0
    unmanaged_touched: int = 0
    applies: int = 0
    unsafe_plans: int = 0
    announced_states: int = 0  # exposures in runs whose plan said no safe order exists
    killed: int = 0
    killed_resumed: int = 0
    replan_extra_work: int = 0
    oob_injected: int = 0
    oob_detected: int = 0
    oob_clobbered: int = 0
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"converged {self.converged}/{self.runs}, violations {self.violations}, "
            f"lost-or-duplicated {self.lost_or_duplicated}, unmanaged-touched {self.unmanaged_touched}, "
            f"applies {self.applies}, announced-unsafe plans {self.unsafe_plans} ({self.announced_states} states as announced); "
            f"kill runs: {self.killed} killed mid-apply, {self.killed_resumed} converged on resume, re-plan extra work {self.replan_extra_work}; "
            f"out-of-band {self.oob_injected}: detected {self.oob_detected}/{self.oob_injected}, clobbered {self.oob_clobbered}"
        )


def fake_env() -> dict[str, str]:
    from sgplan.fakecloud.server import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY

    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy")}
    env.update(TENCENTCLOUD_SECRET_ID=DEFAULT_SECRET_ID, TENCENTCLOUD_SECRET_KEY=DEFAULT_SECRET_KEY)
    return env


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())
