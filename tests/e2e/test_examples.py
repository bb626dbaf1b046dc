"""End to end through the CLI: every example in `examples/` plans, applies and converges.

Each example is copied, with `modules/`, into a temporary tree (its `source = "../../modules/…"`
paths keep working) and run against its own `live.json` through the embedded fake
(`--cloud file:`). The intended access of each scenario is then checked on the applied state with
the analysis engine's first-match evaluation.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sgplan.analysis.access import Packet, first_match, policy
from sgplan.model import ADDRESS_TAG, STACK_TAG, Direction, Rule, SecurityGroup
from tests.e2e.cli import run

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


@dataclass(frozen=True)
class Group:
    """A group an example documents: its module address and its rules in order."""

    address: str
    ingress: tuple[str, ...] = ()
    egress: tuple[str, ...] = ()


# The rules each example's README documents, in order, as "ACTION PROTOCOL[:PORT] PEER".
# `groups` is in binding order: the order the instance must carry them in after apply.
EXPECTED: dict[str, tuple[str, tuple[Group, ...]]] = {
    "ssh": ("ins-ssh00001", (
        Group("module.ssh.security_group.this",
              ingress=("ACCEPT TCP:22 203.0.113.0/24", "ACCEPT TCP:22 198.51.100.7/32")),
    )),
    "rdp": ("ins-rdp00001", (
        Group("module.rdp.security_group.this", ingress=(
            "ACCEPT TCP:3389 81.69.102.0/24",
            "ACCEPT TCP:3389 106.55.203.0/24",
            "ACCEPT TCP:3389 101.33.121.0/24",
            "ACCEPT TCP:3389 101.32.250.0/24",
        )),
    )),
    "ping": ("ins-png00001", (
        Group("module.ping.security_group.this", ingress=("ACCEPT ICMP 0.0.0.0/0", "ACCEPT ICMPv6 ::/0")),
    )),
    "telnet": ("ins-tel00001", (
        Group("module.telnet.security_group.this", ingress=("ACCEPT TCP:23 10.0.0.0/16",)),
    )),
    "web": ("ins-web00001", (
        Group("module.web.security_group.this", ingress=("ACCEPT TCP:80 0.0.0.0/0", "ACCEPT TCP:443 0.0.0.0/0")),
    )),
    "open-port": ("ins-opn00001", (
        Group("module.app_port.security_group.this", ingress=("ACCEPT TCP:1101 0.0.0.0/0",)),
    )),
    "block-port": ("ins-blk00001", (
        Group("module.no_1102.security_group.this", ingress=("DROP TCP:1102 0.0.0.0/0",)),
        Group("module.app_ports.security_group.this", ingress=("ACCEPT TCP:1100-1200 0.0.0.0/0",)),
    )),
    "egress-allowlist": ("ins-egr00001", (
        Group("module.egress.security_group.this",
              egress=("ACCEPT TCP:443 203.0.113.50/32", "DROP ALL 0.0.0.0/0")),
    )),
    "egress-denylist": ("ins-den00001", (
        Group("module.deny.security_group.this",
              egress=("DROP ALL 198.51.100.66/32", "ACCEPT ALL 0.0.0.0/0")),
    )),
    "ftp": ("ins-ftp00001", (
        Group("module.ftp.security_group.this", ingress=("ACCEPT TCP:20-21 0.0.0.0/0",)),
    )),
    "contracts": ("ins-ctr00001", (
        Group("module.admin.security_group.this", ingress=("ACCEPT TCP:22 203.0.113.0/24",)),
        Group("module.web.security_group.this", ingress=("ACCEPT TCP:80 0.0.0.0/0", "ACCEPT TCP:443 0.0.0.0/0")),
    )),
    "multi-group": ("ins-app00001", (
        Group("module.no_http.security_group.this", ingress=("DROP TCP:80 0.0.0.0/0",)),
        Group("module.ssh.security_group.this", ingress=("ACCEPT TCP:22 203.0.113.0/24",)),
        Group("module.web.security_group.this", ingress=("ACCEPT TCP:80 0.0.0.0/0", "ACCEPT TCP:443 0.0.0.0/0")),
        Group("module.egress.security_group.this", egress=(
            "ACCEPT TCP:5432 10.0.1.10/32",
            "ACCEPT TCP:443 203.0.113.50/32",
            "DROP ALL 0.0.0.0/0",
        )),
    )),
}

# The intended access of each scenario: (direction, protocol, port, peer, decision).
ACCESS: dict[str, tuple[tuple[str, str, int | None, str, str], ...]] = {
    "contracts": (
        ("ingress", "TCP", 22, "203.0.113.10", "ACCEPT"),
        ("ingress", "TCP", 22, "8.8.8.8", "DROP"),
        ("ingress", "TCP", 443, "8.8.8.8", "ACCEPT"),
        ("egress", "TCP", 25, "8.8.8.8", "DROP"),
    ),
    "ssh": (
        ("ingress", "TCP", 22, "203.0.113.10", "ACCEPT"),
        ("ingress", "TCP", 22, "198.51.100.7", "ACCEPT"),
        ("ingress", "TCP", 22, "198.51.100.8", "DROP"),
        ("ingress", "TCP", 22, "8.8.8.8", "DROP"),
        ("ingress", "TCP", 80, "203.0.113.10", "DROP"),
    ),
    "rdp": (
        ("ingress", "TCP", 3389, "81.69.102.7", "ACCEPT"),
        ("ingress", "TCP", 3389, "101.32.250.200", "ACCEPT"),
        ("ingress", "TCP", 3389, "8.8.8.8", "DROP"),
        ("ingress", "UDP", 3389, "81.69.102.7", "DROP"),
    ),
    "ping": (
        ("ingress", "ICMP", None, "8.8.8.8", "ACCEPT"),
        ("ingress", "ICMPv6", None, "2001:db8::1", "ACCEPT"),
        ("ingress", "TCP", 22, "8.8.8.8", "DROP"),
    ),
    "telnet": (
        ("ingress", "TCP", 23, "10.0.3.4", "ACCEPT"),
        ("ingress", "TCP", 23, "8.8.8.8", "DROP"),
    ),
    "web": (
        ("ingress", "TCP", 80, "8.8.8.8", "ACCEPT"),
        ("ingress", "TCP", 443, "8.8.8.8", "ACCEPT"),
        ("ingress", "TCP", 22, "8.8.8.8", "DROP"),
    ),
    "open-port": (
        ("ingress", "TCP", 1101, "8.8.8.8", "ACCEPT"),
        ("ingress", "TCP", 1102, "8.8.8.8", "DROP"),
        ("ingress", "UDP", 1101, "8.8.8.8", "DROP"),
    ),
    "block-port": (
        ("ingress", "TCP", 1101, "8.8.8.8", "ACCEPT"),
        ("ingress", "TCP", 1102, "8.8.8.8", "DROP"),
        ("ingress", "TCP", 1103, "8.8.8.8", "ACCEPT"),
    ),
    "egress-allowlist": (
        ("egress", "TCP", 443, "203.0.113.50", "ACCEPT"),
        ("egress", "TCP", 80, "203.0.113.50", "DROP"),
        ("egress", "TCP", 443, "8.8.8.8", "DROP"),
        ("egress", "UDP", 53, "8.8.8.8", "DROP"),
    ),
    "egress-denylist": (
        ("egress", "TCP", 443, "198.51.100.66", "DROP"),
        ("egress", "ICMP", None, "198.51.100.66", "DROP"),
        ("egress", "TCP", 443, "8.8.8.8", "ACCEPT"),
        ("egress", "UDP", 53, "8.8.8.8", "ACCEPT"),
    ),
    "ftp": (
        ("ingress", "TCP", 21, "8.8.8.8", "ACCEPT"),
        ("ingress", "TCP", 20, "8.8.8.8", "ACCEPT"),
        ("ingress", "TCP", 22, "8.8.8.8", "DROP"),
    ),
    "multi-group": (
        ("ingress", "TCP", 443, "8.8.8.8", "ACCEPT"),
        ("ingress", "TCP", 80, "8.8.8.8", "DROP"),
        ("ingress", "TCP", 22, "203.0.113.10", "ACCEPT"),
        ("ingress", "TCP", 22, "8.8.8.8", "DROP"),
        ("egress", "TCP", 5432, "10.0.1.10", "ACCEPT"),
        ("egress", "TCP", 443, "203.0.113.50", "ACCEPT"),
        ("egress", "TCP", 443, "8.8.8.8", "DROP"),
    ),
}


def rule_text(rule: dict[str, Any]) -> str:
    """One rule (plan JSON's HCL field names) as "ACTION PROTOCOL[:PORT] PEER"."""
    service = rule.get("protocol") or rule.get("service_template_id") or rule.get("service_template_group_id")
    if rule.get("port") and rule.get("protocol") in ("TCP", "UDP"):
        service = f"{service}:{rule['port']}"
    peer = next(
        rule[name]
        for name in ("cidr_block", "ipv6_cidr_block", "security_group_id", "address_template_id", "address_template_group_id")
        if rule.get(name)
    )
    return f"{rule['action']} {service} {peer}"


def copy_example(case: str, root: Path) -> Path:
    """The example and the modules, laid out as in the repository, under `root` (a repository
    root, as `.git` marks it: module sources may not leave it, issue 12)."""
    (root / ".git").mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "modules", root / "modules")
    target = root / "examples" / case
    shutil.copytree(EXAMPLES / case, target)
    return target


def groups_by_address(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for group in state["SecurityGroups"]:
        tags = {t["Key"]: t["Value"] for t in group.get("TagSet") or []}
        if ADDRESS_TAG in tags:
            out[tags[ADDRESS_TAG]] = group
    return out


def live_group(raw: dict[str, Any]) -> SecurityGroup:
    policies = raw.get("SecurityGroupPolicySet") or {}
    return SecurityGroup(
        name=raw["SecurityGroupName"],
        id=raw["SecurityGroupId"],
        ingress=tuple(Rule.from_api(p) for p in policies.get("Ingress") or []),
        egress=tuple(Rule.from_api(p) for p in policies.get("Egress") or []),
    )


def decide(state: dict[str, Any], instance_id: str, direction: str, protocol: str, port: int | None, peer: str) -> str:
    """ACCEPT or DROP for one packet, on the instance's groups in binding order (first match wins)."""
    instance = next(i for i in state["Instances"] if i["InstanceId"] == instance_id)
    by_id = {g["SecurityGroupId"]: live_group(g) for g in state["SecurityGroups"]}
    rules = policy([by_id[sg] for sg in instance["SecurityGroupIds"]], Direction(direction))
    index = first_match(rules, Packet(protocol=protocol, peer=peer, port=port))
    return "DROP" if index is None else rules[index].action


@pytest.fixture(autouse=True)
def _no_cloud_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SGPLAN_CLOUD", "TENCENTCLOUD_REGION", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_every_example_directory_is_covered() -> None:
    cases = {p.name for p in EXAMPLES.iterdir() if p.is_dir()} - {"quickstart", "ci"}
    assert cases == set(EXPECTED) == set(ACCESS)


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_example_plans_applies_and_converges(case: str, tmp_path: Path) -> None:
    directory = copy_example(case, tmp_path)
    live = directory / "live.json"
    instance_id, groups = EXPECTED[case]
    stack = f"example-{case}"

    code, out, err = run("plan", str(directory), "--cloud", f"file:{live}", "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["stack"] == stack
    created = {
        rc["address"]: rc["change"]["after"]
        for rc in plan["resource_changes"]
        if rc["type"] == "security_group"
    }
    assert sorted(created) == sorted(g.address for g in groups)
    for rc in plan["resource_changes"]:
        if rc["type"] == "security_group":
            assert rc["change"]["actions"] == ["create"], rc["address"]
    for group in groups:
        after = created[group.address]
        assert [rule_text(r) for r in after["ingress"]] == list(group.ingress), group.address
        assert [rule_text(r) for r in after["egress"]] == list(group.egress), group.address
    bindings = [rc for rc in plan["resource_changes"] if rc["type"] == "binding"]
    assert [rc["address"].split("[")[1] for rc in bindings] == [f'"{instance_id}"]']

    code, out, err = run("apply", str(directory), "--auto-approve", "--cloud", f"file:{live}")
    assert code == 0, err + out

    state = json.loads(live.read_text())
    managed = groups_by_address(state)
    assert sorted(managed) == sorted(g.address for g in groups)
    for group in groups:
        raw = managed[group.address]
        tags = {t["Key"]: t["Value"] for t in raw["TagSet"]}
        assert tags[STACK_TAG] == stack
        applied = live_group(raw)
        assert [rule_text(r.to_hcl()) for r in applied.ingress] == list(group.ingress)
        assert [rule_text(r.to_hcl()) for r in applied.egress] == list(group.egress)
    instance = next(i for i in state["Instances"] if i["InstanceId"] == instance_id)
    assert instance["SecurityGroupIds"] == [managed[g.address]["SecurityGroupId"] for g in groups]

    code, _, err = run("plan", str(directory), "--cloud", f"file:{live}", "--detailed-exitcode")
    assert code == 0, err


@pytest.mark.parametrize("case", sorted(ACCESS))
def test_example_grants_the_intended_access(case: str, tmp_path: Path) -> None:
    directory = copy_example(case, tmp_path)
    live = directory / "live.json"
    code, out, err = run("apply", str(directory), "--auto-approve", "--cloud", f"file:{live}")
    assert code == 0, err + out
    state = json.loads(live.read_text())
    instance_id = EXPECTED[case][0]
    for direction, protocol, port, peer, expected in ACCESS[case]:
        got = decide(state, instance_id, direction, protocol, port, peer)
        assert got == expected, f"{case}: {direction} {protocol}:{port} {peer} → {got}, expected {expected}"


def _swap_no_http_and_web(directory: Path) -> None:
    path = directory / "main.sg.hcl"
    text = path.read_text()
    original = "    module.no_http.id,\n    module.ssh.id,\n    module.web.id,\n"
    assert original in text
    path.write_text(text.replace(original, "    module.web.id,\n    module.ssh.id,\n    module.no_http.id,\n"))


def test_multi_group_swapping_block_and_web_opens_the_blocked_port(tmp_path: Path) -> None:
    directory = copy_example("multi-group", tmp_path)
    live = directory / "live.json"
    assert run("apply", str(directory), "--auto-approve", "--cloud", f"file:{live}")[0] == 0
    before = json.loads(live.read_text())
    assert decide(before, "ins-app00001", "ingress", "TCP", 80, "8.8.8.8") == "DROP"

    _swap_no_http_and_web(directory)
    code, out, err = run("plan", str(directory), "--cloud", f"file:{live}", "--json")
    assert code == 0, err
    plan = json.loads(out)
    changed = [rc for rc in plan["resource_changes"] if rc["change"]["actions"] != ["no-op"]]
    assert [rc["type"] for rc in changed] == ["binding"]  # only the order changes, no group

    assert run("apply", str(directory), "--auto-approve", "--cloud", f"file:{live}")[0] == 0
    after = json.loads(live.read_text())
    assert decide(after, "ins-app00001", "ingress", "TCP", 80, "8.8.8.8") == "ACCEPT"
    assert decide(after, "ins-app00001", "ingress", "TCP", 443, "8.8.8.8") == "ACCEPT"
    assert decide(after, "ins-app00001", "ingress", "TCP", 22, "8.8.8.8") == "DROP"


def test_multi_group_swap_is_reported_as_an_exposure_change(tmp_path: Path) -> None:
    directory = copy_example("multi-group", tmp_path)
    live = directory / "live.json"
    assert run("apply", str(directory), "--auto-approve", "--cloud", f"file:{live}")[0] == 0
    _swap_no_http_and_web(directory)
    code, out, err = run("plan", str(directory), "--cloud", f"file:{live}", "--json")
    assert code == 0, err
    opened = [
        e for e in json.loads(out)["exposure_changes"]
        if e["effect"] == "opened" and e["direction"] == "ingress" and e["instance_id"] == "ins-app00001"
    ]
    assert opened, "swapping no_http and web must show TCP 80 opened"
    assert all(e["protocol"] == "TCP" and "80" in str(e["ports"]).split(",") for e in opened)


def test_cloud_setting_is_relative_to_the_configuration_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = copy_example("web", tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, _, err = run("apply", str(directory), "--auto-approve")
    assert code == 0, err
    assert not (elsewhere / "live.json").exists()
    state = json.loads((directory / "live.json").read_text())
    assert len(state["SecurityGroups"]) == 1
    assert run("plan", str(directory), "--detailed-exitcode")[0] == 0


def test_examples_in_the_repository_start_empty() -> None:
    """The checked-in live.json files hold instances only, so `plan` shows the whole example."""
    for case in EXPECTED:
        state = json.loads((EXAMPLES / case / "live.json").read_text())
        assert state["SecurityGroups"] == []
        assert [i["InstanceId"] for i in state["Instances"]] == [EXPECTED[case][0]]
