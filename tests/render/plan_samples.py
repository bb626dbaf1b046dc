"""Deterministic plans for the renderer tests (hand-built live state, fixed ids)."""

from __future__ import annotations

from pathlib import Path

from sgplan.model import Binding, CloudState, DesiredState, GroupRef, Instance, Output, Rule, SecurityGroup, Settings
from sgplan.plan import make_plan

GOLDEN = Path(__file__).parent / "golden"


def ssh_rule(desc: str = "ssh from office") -> Rule:
    return Rule("ACCEPT", "TCP", "22", cidr_block="10.0.0.0/8", description=desc)


LIVE = CloudState(
    region="ap-guangzhou",
    groups=(
        SecurityGroup("ssh", id="sg-ssh00001", address="security_group.ssh", stack="prod", version="5",
                      ingress=(ssh_rule("old text"), Rule("DROP", "ALL", cidr_block="0.0.0.0/0"))),
        SecurityGroup("legacy", id="sg-legacy01", address="security_group.legacy", stack="prod", version="2",
                      ingress=(Rule("ACCEPT", "TCP", "23", cidr_block="0.0.0.0/0", description="telnet"),)),
    ),
    instances=(Instance("ins-aaaa1111", ("sg-ssh00001", "sg-legacy01")), Instance("ins-bbbb2222", ("sg-legacy01",))),
)

DESIRED = DesiredState(
    settings=Settings(stack="prod"),
    groups=(
        SecurityGroup("ssh-prod", address="security_group.ssh",
                      ingress=(ssh_rule(), Rule("ACCEPT", "ICMP", cidr_block="10.0.0.0/8"), Rule("DROP", "ALL", cidr_block="0.0.0.0/0"))),
        SecurityGroup("web", address="module.web.security_group.this", description="public web", tags=(("team", "web"),),
                      ingress=(Rule("ACCEPT", "TCP", "80,443", cidr_block="0.0.0.0/0", description="HTTP and HTTPS"),),
                      egress=(Rule("ACCEPT", "ALL", cidr_block="0.0.0.0/0"),)),
    ),
    bindings=(Binding("binding.web_servers", "ins-aaaa1111", (GroupRef("module.web.security_group.this"), "sg-ssh00001")),),
    outputs=(Output("ssh_id", "sg-ssh00001"), Output("web_id", None, known=False)),
    config_hash="0123abcd",
)


def changed_plan():
    plan, diags = make_plan(DESIRED, LIVE, cloud="file:live.json", region="ap-guangzhou")
    assert plan is not None, diags
    return plan


def unchanged_plan():
    live = CloudState(region="ap-guangzhou", groups=(LIVE.groups[0],), instances=(Instance("ins-aaaa1111", ("sg-ssh00001",)),))
    desired = DesiredState(
        settings=Settings(stack="prod"),
        groups=(SecurityGroup("ssh", address="security_group.ssh", ingress=LIVE.groups[0].ingress),),
        bindings=(Binding("binding.b", "ins-aaaa1111", ("sg-ssh00001",)),),
        outputs=(Output("ssh_id", "sg-ssh00001"),),
    )
    plan, diags = make_plan(desired, live, cloud="file:live.json", region="ap-guangzhou")
    assert plan is not None, diags
    return plan


def check_golden(name: str, actual: str) -> None:
    """Compare with `golden/<name>`; SGPLAN_UPDATE_GOLDEN=1 rewrites it; a mismatch leaves `.actual`."""
    import os

    path = GOLDEN / name
    if os.environ.get("SGPLAN_UPDATE_GOLDEN") == "1" or not path.exists():
        path.write_text(actual)
    expected = path.read_text()
    actual_path = path.with_name(name + ".actual")
    if actual != expected:
        actual_path.write_text(actual)
        raise AssertionError(f"{name} differs from the golden file; see {actual_path}")
    if actual_path.exists():
        actual_path.unlink()
