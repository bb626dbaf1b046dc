"""import → plan is empty → fmt --check passes → hclfmt agrees, on random live estates.

Estates are `--cloud file:` state files (DESIGN §4) with every rule shape, cross-references,
default and stack-managed groups, and instances carrying ordered group lists.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hclfmt import hclfmt, unchanged

HCLFMT, WHY = hclfmt()


@dataclass
class Run:
    code: int
    out: str
    err: str


def sgplan(*args: str | Path) -> Run:
    """The CLI in-process (hypothesis cannot use function-scoped capture fixtures)."""
    from sgplan.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return Run(code, out.getvalue(), err.getvalue())


# --- estates ----------------------------------------------------------------------------------

_words = st.text(alphabet=st.sampled_from(list("abcXYZ019 -_.") + ["中", "é", '"', "\\", "$", "{", "}", "%"]), max_size=12)
_cidr4 = st.sampled_from(["0.0.0.0/0", "10.0.0.0/8", "203.0.113.7/32", "192.168.1.0/24", "172.16.0.0/12"])
_cidr6 = st.sampled_from(["::/0", "2001:db8::/32", "fd00::1/128"])
_ports = st.sampled_from(["ALL", "22", "80,443", "8000-8010", "3389", "20-21"])


@st.composite
def _policy(draw: st.DrawFn, group_ids: list[str]) -> dict[str, Any]:
    policy: dict[str, Any] = {"Action": draw(st.sampled_from(["ACCEPT", "DROP"]))}
    kind = draw(st.sampled_from(["v4", "v6", "sg", "ipm", "ipmg"]))
    service = draw(st.sampled_from(["tcp", "udp", "icmp", "all", "gre", "ppm", "ppmg"]))
    if service in ("tcp", "udp"):
        policy.update(Protocol=service.upper(), Port=draw(_ports))
    elif service == "icmp":
        policy["Protocol"] = "ICMPv6" if kind == "v6" else "ICMP"
    elif service in ("all", "gre"):
        policy["Protocol"] = service.upper()
    elif service == "ppm":
        policy["ServiceTemplate"] = {"ServiceId": "ppm-0001"}
    else:
        policy["ServiceTemplate"] = {"ServiceGroupId": "ppmg-0001"}
    if kind == "v4":
        policy["CidrBlock"] = draw(_cidr4)
    elif kind == "v6":
        policy["Ipv6CidrBlock"] = draw(_cidr6)
    elif kind == "sg":
        policy["SecurityGroupId"] = draw(st.sampled_from([*group_ids, "sg-extern01"]))
    elif kind == "ipm":
        policy["AddressTemplate"] = {"AddressId": "ipm-0001"}
    else:
        policy["AddressTemplate"] = {"AddressGroupId": "ipmg-0001"}
    policy["PolicyDescription"] = draw(st.one_of(st.just(""), _words))
    return policy


def _key(policy: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in policy.items() if k != "PolicyDescription"}, sort_keys=True)


@st.composite
def estates(draw: st.DrawFn, max_groups: int = 8, max_rules: int = 12) -> dict[str, Any]:
    count = draw(st.integers(1, max_groups))
    ids = [f"sg-{i:08x}" for i in range(1, count + 1)]
    groups = []
    for gid in ids:
        rules = {}
        for direction in ("Ingress", "Egress"):
            policies = draw(st.lists(_policy(ids), max_size=max_rules, unique_by=_key))
            rules[direction] = policies
        kind = draw(st.sampled_from(["plain"] * 6 + ["default", "prod", "default-stack"]))
        tags = draw(st.dictionaries(st.sampled_from(["team", "env", "cost-center", "a b", "中"]), _words, max_size=3))
        tag_set = [{"Key": k, "Value": v} for k, v in tags.items()]
        if kind in ("prod", "default-stack"):
            stack = "prod" if kind == "prod" else "default"
            tag_set += [{"Key": "sgplan-stack", "Value": stack}, {"Key": "sgplan-address", "Value": f"security_group.g{gid[-4:]}"}]
        groups.append(
            {
                "SecurityGroupId": gid,
                "SecurityGroupName": draw(st.sampled_from(["web", "web-prod", "Web Prod", "db", "生产", "1st"])) + draw(st.sampled_from(["", "", "x"])),
                "SecurityGroupDesc": draw(st.one_of(st.just(""), _words)),
                "ProjectId": draw(st.sampled_from(["0", "0", "1002"])),
                "IsDefault": kind == "default",
                "TagSet": tag_set,
                "SecurityGroupPolicySet": {"Version": "1", **rules},
            }
        )
    instances = []
    for n in range(draw(st.integers(0, 6))):
        carried = draw(st.lists(st.sampled_from([*ids, "sg-extern01"]), max_size=5, unique=True))
        instances.append({"InstanceId": f"ins-{n:08x}", "SecurityGroupIds": carried})
    return {
        "Region": "ap-guangzhou",
        "SecurityGroups": groups
        + [{"SecurityGroupId": "sg-extern01", "SecurityGroupName": "external", "TagSet": [{"Key": "sgplan-stack", "Value": "other"}, {"Key": "sgplan-address", "Value": "security_group.e"}],
            "SecurityGroupPolicySet": {"Version": "1", "Ingress": [], "Egress": []}}],
        "Instances": instances,
        "AddressTemplates": [{"AddressTemplateId": "ipm-0001", "AddressTemplateName": "office", "AddressSet": ["10.1.0.0/16"]}],
        "AddressTemplateGroups": [{"AddressTemplateGroupId": "ipmg-0001", "AddressTemplateGroupName": "offices", "AddressTemplateIdSet": ["ipm-0001"]}],
        "ServiceTemplates": [{"ServiceTemplateId": "ppm-0001", "ServiceTemplateName": "web", "ServiceSet": ["tcp:80"]}],
        "ServiceTemplateGroups": [{"ServiceTemplateGroupId": "ppmg-0001", "ServiceTemplateGroupName": "webs", "ServiceTemplateIdSet": ["ppm-0001"]}],
    }


def _importable(estate: dict[str, Any]) -> bool:
    return any(
        not g.get("IsDefault") and not any(t["Key"] == "sgplan-stack" for t in g["TagSet"]) for g in estate["SecurityGroups"]
    )


def roundtrip(estate: dict[str, Any], tmp: Path, layout: str) -> None:
    state = tmp / "live.json"
    state.write_text(json.dumps(estate, ensure_ascii=False), encoding="utf-8")
    out = tmp / ("imported.sg.hcl" if layout == "file" else "imported")
    config = tmp / "config"
    run = sgplan("import", "--all-unmanaged", "--out", out, "--cloud", f"file:{state}")
    if not _importable(estate):
        assert run.code == 1 and "nothing to import" in run.err
        return
    assert run.code == 0, run.err
    if layout == "file":
        config.mkdir()
        out.rename(config / out.name)
    else:
        out.rename(config)
    files = sorted(config.glob("*.sg.hcl"))
    plan = sgplan("plan", config, "--cloud", f"file:{state}", "--detailed-exitcode")
    assert plan.code == 0, plan.out + plan.err
    assert sgplan("fmt", "--check", config).code == 0
    if HCLFMT is not None:
        assert unchanged(*files) == (True, "")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(estates(), st.sampled_from(["file", "dir"]))
def test_import_then_plan_is_empty_and_formatted(estate: dict[str, Any], layout: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        roundtrip(estate, Path(tmp), layout)


@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(estates(max_groups=30, max_rules=60))
def test_large_estates_round_trip(estate: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        roundtrip(estate, Path(tmp), "dir")


ESTATE = {
    "Region": "ap-guangzhou",
    "SecurityGroups": [
        {"SecurityGroupId": "sg-web00001", "SecurityGroupName": "web-prod",
         "SecurityGroupPolicySet": {"Version": "3", "Ingress": [
             {"Protocol": "TCP", "Port": "22", "SecurityGroupId": "sg-bast0001", "Action": "ACCEPT"},
             {"Protocol": "TCP", "Port": "80,443", "CidrBlock": "0.0.0.0/0", "Action": "ACCEPT"}], "Egress": []}},
        {"SecurityGroupId": "sg-bast0001", "SecurityGroupName": "bastion",
         "SecurityGroupPolicySet": {"Version": "1", "Ingress": [], "Egress": []}},
        {"SecurityGroupId": "sg-dflt0001", "SecurityGroupName": "default", "IsDefault": True,
         "SecurityGroupPolicySet": {"Version": "1", "Ingress": [], "Egress": []}},
    ],
    "Instances": [{"InstanceId": "ins-a", "SecurityGroupIds": ["sg-web00001", "sg-bast0001"]}],
}


def test_import_to_stdout_by_id_skips_default_with_a_note(tmp_path: Path) -> None:
    state = tmp_path / "live.json"
    state.write_text(json.dumps(ESTATE))
    run = sgplan("import", "sg-web00001", "sg-dflt0001", "--cloud", f"file:{state}")
    assert run.code == 0, run.err
    assert 'security_group "web_prod"' in run.out and "sg-dflt0001" not in run.out
    assert 'security_group_id = "sg-bast0001"' in run.out  # bastion not imported: literal id
    assert 'security_groups = [security_group.web_prod.id, "sg-bast0001"]' in run.out
    assert "sg-dflt0001 (default): skipped" in run.err


def test_import_errors_are_one_line(tmp_path: Path) -> None:
    state = tmp_path / "live.json"
    state.write_text(json.dumps(ESTATE))
    run = sgplan("import", "sg-nope", "--cloud", f"file:{state}")
    assert run.code == 1 and "sg-nope: no such security group" in run.err and "Traceback" not in run.err
    run = sgplan("import", "--cloud", f"file:{state}")
    assert run.code == 1 and "--all-unmanaged" in run.err
    (tmp_path / "taken.sg.hcl").write_text("# mine\n")
    run = sgplan("import", "--all-unmanaged", "--out", tmp_path / "taken.sg.hcl", "--cloud", f"file:{state}")
    assert run.code == 1 and "already exists" in run.err
    assert (tmp_path / "taken.sg.hcl").read_text() == "# mine\n"


def test_import_refuses_to_write_when_the_plan_is_not_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sgplan import importer

    state = tmp_path / "live.json"
    state.write_text(json.dumps(ESTATE))
    real = importer.render_file
    monkeypatch.setattr(importer, "render_file", lambda result: real(result).replace('port              = "22"', 'port              = "23"'))
    run = sgplan("import", "--all-unmanaged", "--out", tmp_path / "out.sg.hcl", "--cloud", f"file:{state}")
    assert run.code == 1
    assert "does not plan empty" in run.err and "23" in run.err
    assert not (tmp_path / "out.sg.hcl").exists()
