"""The built-in checks that cover Tencent Cloud Config's managed security-group rules
(docs/contracts.md has the mapping), order-aware where the managed rules read one rule at a time."""

from __future__ import annotations

from sgplan.analysis.checks import run_checks
from sgplan.analysis.exposure import AccessView
from sgplan.model import Rule, SecurityGroup


def _view(instances: dict[str, tuple[str, ...]], *groups: SecurityGroup) -> AccessView:
    return AccessView({g.id: g for g in groups}, instances)


def _ids(view: AccessView) -> set[str]:
    return {f.rule for f in run_checks(view)}


def test_idle_group_is_reported_and_can_be_suppressed() -> None:
    used = SecurityGroup("used", id="sg-1", ingress=(Rule("ACCEPT", "TCP", "443", cidr_block="10.0.0.0/8"),))
    idle = SecurityGroup("idle", id="sg-2", address="security_group.idle")
    findings = run_checks(_view({"ins-1": ("sg-1",)}, used, idle))
    [unused] = [f for f in findings if f.rule == "group-unused"]
    assert unused.address == "security_group.idle" and unused.severity == "medium"
    quiet = SecurityGroup("idle", id="sg-2", ignore_findings=("group-unused",))
    assert "group-unused" not in _ids(_view({"ins-1": ("sg-1",)}, used, quiet))


def test_remote_access_ports_open_to_all_networks() -> None:
    vnc = SecurityGroup("vnc", id="sg-3", ingress=(Rule("ACCEPT", "TCP", "5900", ipv6_cidr_block="::/0"),))
    assert "remote-access-open-to-internet" in _ids(_view({"ins-1": ("sg-3",)}, vnc))
    winrm = SecurityGroup("w", id="sg-4", ingress=(Rule("ACCEPT", "TCP", "5985-5986", cidr_block="0.0.0.0/0"),))
    assert "remote-access-open-to-internet" in _ids(_view({"ins-1": ("sg-4",)}, winrm))


def test_order_aware_where_the_managed_rules_are_not() -> None:
    # A rule "ACCEPT every port from 0.0.0.0/0" below a DROP of everything decides nothing: the
    # managed rules flag it, sgplan does not (it reports the shadowed rule instead).
    group = SecurityGroup("g", id="sg-5", ingress=(Rule("DROP", "ALL", cidr_block="0.0.0.0/0"),
                                                   Rule("ACCEPT", "TCP", "ALL", cidr_block="0.0.0.0/0")))
    ids = _ids(_view({"ins-1": ("sg-5",)}, group))
    assert "all-ports-open-to-internet" not in ids and "ssh-open-to-internet" not in ids
    assert "rule-shadowed" in ids
    # An earlier group's DROP protects SSH on the instance that carries both, in that order.
    deny = SecurityGroup("deny", id="sg-6", ingress=(Rule("DROP", "TCP", "22", cidr_block="0.0.0.0/0"),))
    ssh = SecurityGroup("ssh", id="sg-7", ingress=(Rule("ACCEPT", "TCP", "22", cidr_block="0.0.0.0/0"),))
    assert "ssh-open-to-internet" not in _ids(_view({"ins-1": ("sg-6", "sg-7")}, deny, ssh))
    assert "ssh-open-to-internet" in _ids(_view({"ins-1": ("sg-7", "sg-6")}, deny, ssh))


def test_all_ports_open_to_all_networks() -> None:
    group = SecurityGroup("g", id="sg-8", ingress=(Rule("ACCEPT", "ALL", cidr_block="0.0.0.0/0"),))
    assert "all-ports-open-to-internet" in _ids(_view({"ins-1": ("sg-8",)}, group))
