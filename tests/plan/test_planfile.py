from __future__ import annotations

import json

import pytest

from sgplan.analysis.exposure import ExposureChange
from sgplan.diagnostics import UserError
from sgplan.model import Binding, CloudState, DesiredState, GroupRef, Instance, Output, Rule, SecurityGroup, Settings
from sgplan.plan import make_plan
from sgplan.plan.planfile import read_plan, write_plan


def sample_plan():
    live = CloudState(
        region="ap-guangzhou",
        groups=(SecurityGroup("old", id="sg-00000001", address="security_group.old", stack="s", version="4",
                              ingress=(Rule("ACCEPT", "TCP", "22", cidr_block="10.0.0.0/8"),)),
                SecurityGroup("web", id="sg-00000002", address="security_group.web", stack="s", version="2",
                              ingress=(Rule("ACCEPT", "TCP", "80", cidr_block="0.0.0.0/0"),))),
        instances=(Instance("ins-aaaa1111", ("sg-00000001",)),),
    )
    desired = DesiredState(
        settings=Settings(stack="s"),
        groups=(
            SecurityGroup("web", address="security_group.web", tags=(("team", "web"),),
                          ingress=(Rule("ACCEPT", "TCP", "443", cidr_block="0.0.0.0/0", description="tls"),
                                   Rule("ACCEPT", "TCP", "80", cidr_block="0.0.0.0/0"))),
            SecurityGroup("new", address="module.m.security_group.new",
                          ingress=(Rule("ACCEPT", "TCP", "22", security_group_id=GroupRef("module.m.security_group.new")),)),
        ),
        bindings=(Binding("binding.b", "ins-aaaa1111", ("sg-00000002", GroupRef("module.m.security_group.new"))),),
        outputs=(Output("web_id", "sg-00000002"), Output("new_id", None, known=False), Output("secret", "hunter2", sensitive=True)),
        config_hash="abc",
    )
    plan, diags = make_plan(desired, live, cloud="file:live.json", region="ap-guangzhou")
    assert plan is not None, diags
    return plan


def test_round_trip(tmp_path):
    plan = sample_plan()
    plan = type(plan)(**{**{f: getattr(plan, f) for f in plan.__dataclass_fields__},
                         "exposure_changes": (ExposureChange("ins-aaaa1111", "ingress", "TCP", "22", "0.0.0.0/0", "opened"),),
                         "outputs": tuple(o for o in plan.outputs if not o.sensitive)})
    path = tmp_path / "plan.json"
    write_plan(path, plan)
    assert read_plan(path) == plan
    assert not [p for p in tmp_path.iterdir() if p.name != "plan.json"]  # no temp file left behind


def test_no_secrets_in_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "very-secret-key")
    path = tmp_path / "plan.json"
    write_plan(path, sample_plan())
    text = path.read_text()
    assert "hunter2" not in text
    assert "very-secret-key" not in text
    assert read_plan(path).outputs[2].value is None


def test_unknown_format_version_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "plan.json"
    write_plan(path, sample_plan())
    data = json.loads(path.read_text())
    data["format_version"] = "99"
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match=r"plan\.json.*format version '99'"):
        read_plan(path)


def test_not_a_plan(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("hello")
    with pytest.raises(UserError, match="not an sgplan plan file"):
        read_plan(path)
    with pytest.raises(UserError, match="cannot read"):
        read_plan(tmp_path / "missing.json")


def test_a_planted_symlink_at_the_plan_path_is_replaced_not_followed(tmp_path):
    """CI writes `--out pr.plan` where a pull request could commit `pr.plan -> ~/.bashrc`."""
    victim = tmp_path / "victim"
    victim.write_text("precious")
    link = tmp_path / "pr.plan"
    link.symlink_to(victim)
    write_plan(link, sample_plan())
    assert victim.read_text() == "precious"
    assert not link.is_symlink() and read_plan(link).stack == "s"


def test_an_unwritable_plan_path_is_one_user_error(tmp_path):
    with pytest.raises(UserError, match="cannot write"):
        write_plan(tmp_path / "missing-dir" / "p.plan", sample_plan())
