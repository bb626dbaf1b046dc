"""Each check fires on its case, respects first-match order, and is suppressible per group."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sgplan.analysis.checks import CHECK_IDS, Scope, fails, run_checks
from sgplan.analysis.access import Evaluator
from sgplan.analysis.exposure import AccessView, Comparison
from sgplan.model import Rule, SecurityGroup, SourceRange


def accept(port: str | None, cidr: str = "0.0.0.0/0", protocol: str = "TCP", line: int = 1) -> Rule:
    return Rule("ACCEPT", protocol, port, cidr_block=cidr, origin=SourceRange("main.sg.hcl", line))


def ids(findings) -> list[str]:
    return [f.rule for f in findings]


def one_group(*rules: Rule, bound: bool = True, **kw) -> AccessView:
    group = SecurityGroup("g", id="sg-1", address="security_group.g", ingress=rules, **kw)
    return AccessView({"sg-1": group}, {"ins-1": ("sg-1",)} if bound else {})


@pytest.mark.parametrize(
    "port,check",
    [
        ("22", "ssh-open-to-internet"),
        ("3389", "rdp-open-to-internet"),
        ("23", "telnet-open-to-internet"),
        ("21", "ftp-open-to-internet"),
        ("6379", "database-open-to-internet"),
        ("ALL", "all-ports-open-to-internet"),
    ],
)
def test_exposure_checks_fire_per_instance_and_unbound_group(port: str, check: str) -> None:
    for bound in (True, False):
        findings = run_checks(one_group(accept(port, line=7), bound=bound))
        hit = [f for f in findings if f.rule == check]
        assert len(hit) == 1, findings
        assert hit[0].origin == SourceRange("main.sg.hcl", 7)
        assert hit[0].address == "security_group.g"
        assert (hit[0].instance_id == "ins-1") == bound


def test_private_or_single_address_is_not_the_internet() -> None:
    assert "ssh-open-to-internet" not in ids(run_checks(one_group(accept("22", "10.0.0.0/8"))))
    assert "ssh-open-to-internet" not in ids(run_checks(one_group(accept("22", "203.0.113.7"))))
    assert "ssh-open-to-internet" in ids(run_checks(one_group(Rule("ACCEPT", "TCP", "22", ipv6_cidr_block="::/0"))))


def test_drop_above_accept_counts_also_across_groups() -> None:
    drop = Rule("DROP", "TCP", "22", cidr_block="0.0.0.0/0")
    assert "ssh-open-to-internet" not in ids(run_checks(one_group(drop, accept("22"))))
    groups = {"sg-d": SecurityGroup("d", ingress=(drop,)), "sg-s": SecurityGroup("s", ingress=(accept("22"),))}
    assert "ssh-open-to-internet" not in ids(run_checks(AccessView(groups, {"ins-1": ("sg-d", "sg-s")})))
    assert "ssh-open-to-internet" in ids(run_checks(AccessView(groups, {"ins-1": ("sg-s", "sg-d")})))


def test_shadowed_redundant_and_telnet_in_use() -> None:
    findings = run_checks(one_group(accept("ALL", "10.0.0.0/8"), accept("22", "10.1.0.0/16"), accept("23", "192.168.0.0/16")))
    by_rule = {f.rule: f for f in findings}
    assert "ingress[1]" in by_rule["rule-shadowed"].message and by_rule["rule-shadowed"].severity == "low"
    assert "telnet-in-use" in by_rule
    conflicting = run_checks(one_group(Rule("DROP", "ALL", None, cidr_block="0.0.0.0/0"), accept("22")))
    assert [f.severity for f in conflicting if f.rule == "rule-shadowed"] == ["medium"]
    redundant = run_checks(one_group(accept("22", "10.0.0.0/8"), accept("ALL", "10.0.0.0/8")))
    assert [f.message.split(" ")[0] for f in redundant if f.rule == "rule-redundant"] == ["ingress[0]"]
    # A trailing DROP decides for the groups after this one: not redundant.
    assert "rule-redundant" not in ids(run_checks(one_group(accept("22", "10.0.0.0/8"), Rule("DROP", "ALL", None, cidr_block="0.0.0.0/0"))))


def test_quota_and_too_many_groups() -> None:
    many = tuple(accept(str(p)) for p in range(1000, 1003))
    assert "group-over-rule-quota" in ids(run_checks(one_group(*many), rule_quota=2))
    groups = {f"sg-{i}": SecurityGroup(f"g{i}") for i in range(6)}
    findings = run_checks(AccessView(groups, {"ins-1": tuple(groups)}))
    assert ids(findings) == ["instance-over-5-groups"]


def test_ignore_findings_suppresses_per_group() -> None:
    view = one_group(accept("22"), accept("22", "10.0.0.0/8"))
    assert {"ssh-open-to-internet", "rule-shadowed"} <= set(ids(run_checks(view)))
    group = replace(view.groups["sg-1"], ignore_findings=("ssh-open-to-internet",))
    quiet = run_checks(AccessView({"sg-1": group}, view.instances))
    assert "ssh-open-to-internet" not in ids(quiet) and "rule-shadowed" in ids(quiet)


def test_fail_on_and_ids_are_stable() -> None:
    findings = run_checks(one_group(accept("22", "10.0.0.0/8"), accept("22", "10.1.0.0/16")))
    assert {f.severity for f in findings} == {"low"}
    assert fails(findings, "low") and not fails(findings, "medium") and not fails(findings, None)
    assert len(set(CHECK_IDS)) == len(CHECK_IDS) == 13


SSH_DROP = Rule("DROP", "TCP", "22", cidr_block="0.0.0.0/0")


def test_ssh_open_but_preceded_by_a_drop_of_0_0_0_0_on_tcp_22() -> None:
    # Same group, DROP first: first match drops SSH from everywhere, so no finding.
    assert "ssh-open-to-internet" not in ids(run_checks(one_group(SSH_DROP, accept("22"))))
    # The DROP in a lower-priority group (bound after the one that accepts): SSH stays open.
    groups = {"sg-ssh": SecurityGroup("ssh", address="security_group.ssh", ingress=(accept("22", line=4),)),
              "sg-deny": SecurityGroup("deny", ingress=(SSH_DROP,))}
    findings = run_checks(AccessView(groups, {"ins-1": ("sg-ssh", "sg-deny")}))
    (ssh,) = [f for f in findings if f.rule == "ssh-open-to-internet"]
    assert (ssh.address, ssh.instance_id, ssh.origin) == ("security_group.ssh", "ins-1", SourceRange("main.sg.hcl", 4))
    assert "ingress[0]" in ssh.message and "0.0.0.0/0" in ssh.message
    # … and with the DROP in the higher-priority group, none.
    quiet = run_checks(AccessView(groups, {"ins-1": ("sg-deny", "sg-ssh")}))
    assert "ssh-open-to-internet" not in ids(quiet)


@pytest.mark.parametrize(
    "rules,check",
    [
        # Reachable only from private or small ranges, or closed by an earlier DROP: no exposure finding.
        ((accept("3389", "81.69.102.0/24"), accept("3389", "106.55.203.0/24")), "rdp-open-to-internet"),
        ((Rule("DROP", "TCP", "23", cidr_block="0.0.0.0/0"), accept("ALL")), "telnet-open-to-internet"),
        ((accept("20-21", "192.168.0.0/16"),), "ftp-open-to-internet"),
        ((accept("80,443"), accept("3306", "10.0.0.0/8")), "database-open-to-internet"),
        ((Rule("DROP", "TCP", "1", cidr_block="0.0.0.0/0"), accept("ALL"), accept("ALL", protocol="UDP", cidr="10.0.0.0/8")),
         "all-ports-open-to-internet"),
        ((accept("22", "10.0.0.0/8"), accept("80", "10.0.0.0/8")), "rule-shadowed"),
        ((accept("22", "10.0.0.0/8"), accept("80", "10.0.0.0/8")), "rule-redundant"),
        ((accept("22", "10.0.0.0/8"), Rule("DROP", "TCP", "23", cidr_block="0.0.0.0/0")), "telnet-in-use"),
    ],
)
def test_each_check_stays_quiet_when_its_case_is_absent(rules: tuple[Rule, ...], check: str) -> None:
    assert check not in ids(run_checks(one_group(*rules)))


def test_more_checks_positive() -> None:
    assert "all-ports-open-to-internet" in ids(run_checks(one_group(accept("ALL", protocol="UDP"))))
    assert "database-open-to-internet" in ids(run_checks(one_group(accept("5000-6000"))))  # 5432
    assert "telnet-in-use" in ids(run_checks(one_group(accept("20-30", "10.0.0.0/8"))))
    assert "group-over-rule-quota" not in ids(run_checks(one_group(accept("1"), accept("2")), rule_quota=2))
    five = {f"sg-{i}": SecurityGroup(f"g{i}") for i in range(5)}
    assert "instance-over-5-groups" not in ids(run_checks(AccessView(five, {"ins-1": tuple(five)})))


def test_scope_limits_findings_to_changed_groups_and_instances() -> None:
    open_ssh = SecurityGroup("a", address="security_group.a", ingress=(accept("22"), accept("22", "10.0.0.0/8")))
    other = SecurityGroup("b", address="security_group.b", ingress=(accept("22"),))
    view = AccessView({"sg-a": open_ssh, "sg-b": other}, {"ins-1": ("sg-a",), "ins-2": ("sg-b",)})
    everything = run_checks(view)
    assert {f.group_id for f in everything} == {"sg-a", "sg-b"}
    only_b = run_checks(view, scope=Scope(frozenset({"ins-2"}), frozenset({"sg-b"})))
    assert {f.group_id for f in only_b} == {"sg-b"} and {f.instance_id for f in only_b} == {"ins-2"}
    assert run_checks(view, scope=Scope()) == []


def test_checks_reuse_the_signatures_a_comparison_worked_out() -> None:
    groups = {"sg-a": SecurityGroup("a", ingress=(accept("22"), accept("22", line=2))),
              "sg-b": SecurityGroup("b", ingress=(accept("3306"),), egress=(accept(None),))}
    before = AccessView(groups, {"ins-1": ("sg-a",)})
    after = AccessView(groups, {"ins-1": ("sg-b", "sg-a", "sg-gone")})
    evaluator = Evaluator()
    comparison = Comparison(before, after, evaluator)
    known = run_checks(after, evaluator=evaluator, signature=comparison.new_layers.signature)
    assert [str(f) for f in known] == [str(f) for f in run_checks(after)]
    assert {"ssh-open-to-internet", "database-open-to-internet", "rule-redundant"} <= set(ids(known))
