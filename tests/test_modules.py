"""The bundled modules (DESIGN §8): their shape, the rules they plan in order, their validation.

Each module is called from a small root configuration written to a temporary directory and run
through the CLI (`plan --json`, `validate`) against an empty embedded fake cloud.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sgplan.model import MAX_DESCRIPTION, normalize_cidr
from tests.e2e.cli import run

REPO = Path(__file__).resolve().parents[1]
MODULES = REPO / "modules"

# DESIGN §8: module → (inputs beyond name/description/tags, with defaults as HCL or None if required).
INPUTS: dict[str, dict[str, str | None]] = {
    "linux-ssh": {"allowed_cidrs": '["0.0.0.0/0"]', "address_template_ids": "[]"},
    "windows-rdp": {
        "allowed_cidrs": '["81.69.102.0/24", "106.55.203.0/24", "101.33.121.0/24", "101.32.250.0/24"]',
        "address_template_ids": "[]",
    },
    "ping": {"allowed_cidrs": '["0.0.0.0/0"]', "allowed_ipv6_cidrs": "[]"},
    "telnet": {"allowed_cidrs": '["0.0.0.0/0"]'},
    "web": {"allowed_cidrs": '["0.0.0.0/0"]'},
    "open-port": {"port": None, "protocol": '"TCP"', "allowed_cidrs": '["0.0.0.0/0"]'},
    "block-port": {"port": None, "protocol": '"TCP"', "blocked_cidrs": '["0.0.0.0/0"]'},
    "egress-allowlist": {"destinations": None},
    "egress-denylist": {"denied_cidrs": None, "allow_other_egress": "true"},
    "ftp": {"allowed_cidrs": '["0.0.0.0/0"]'},
    "open-all": {},
    "open-common": {},
}

# Smallest valid call of each module: its required inputs.
REQUIRED = {
    "open-port": {"port": '"1101"'},
    "block-port": {"port": '"1102"'},
    "egress-allowlist": {"destinations": '[{ cidr = "203.0.113.50", protocol = "TCP", port = "443" }]'},
    "egress-denylist": {"denied_cidrs": '["198.51.100.66"]'},
}

# (module, inputs) → (ingress, egress) as "ACTION PROTOCOL[:PORT] PEER", in order.
CASES: list[tuple[str, dict[str, str], tuple[str, ...], tuple[str, ...]]] = [
    ("linux-ssh", {}, ("ACCEPT TCP:22 0.0.0.0/0",), ()),
    ("linux-ssh", {"allowed_cidrs": '["10.0.0.0/8", "198.51.100.7"]'},
     ("ACCEPT TCP:22 10.0.0.0/8", "ACCEPT TCP:22 198.51.100.7/32"), ()),
    ("windows-rdp", {}, (
        "ACCEPT TCP:3389 81.69.102.0/24",
        "ACCEPT TCP:3389 106.55.203.0/24",
        "ACCEPT TCP:3389 101.33.121.0/24",
        "ACCEPT TCP:3389 101.32.250.0/24",
    ), ()),
    ("ping", {}, ("ACCEPT ICMP 0.0.0.0/0",), ()),
    ("ping", {"allowed_cidrs": '["10.0.0.0/8"]', "allowed_ipv6_cidrs": '["2001:db8::/32", "::/0"]'},
     ("ACCEPT ICMP 10.0.0.0/8", "ACCEPT ICMPv6 2001:db8::/32", "ACCEPT ICMPv6 ::/0"), ()),
    ("ping", {"allowed_cidrs": "[]", "allowed_ipv6_cidrs": '["::/0"]'}, ("ACCEPT ICMPv6 ::/0",), ()),
    ("telnet", {}, ("ACCEPT TCP:23 0.0.0.0/0",), ()),
    ("web", {}, ("ACCEPT TCP:80 0.0.0.0/0", "ACCEPT TCP:443 0.0.0.0/0"), ()),
    ("web", {"allowed_cidrs": '["10.0.0.0/8", "192.168.0.0/16"]'}, (
        "ACCEPT TCP:80 10.0.0.0/8",
        "ACCEPT TCP:80 192.168.0.0/16",
        "ACCEPT TCP:443 10.0.0.0/8",
        "ACCEPT TCP:443 192.168.0.0/16",
    ), ()),
    ("open-port", {"port": '"1101"'}, ("ACCEPT TCP:1101 0.0.0.0/0",), ()),
    ("open-port", {"port": '"8000-8010"', "protocol": '"udp"', "allowed_cidrs": '["10.1.0.0/16"]'},
     ("ACCEPT UDP:8000-8010 10.1.0.0/16",), ()),
    ("block-port", {"port": '"1102"'}, ("DROP TCP:1102 0.0.0.0/0",), ()),
    ("block-port", {"port": '"80,443"', "blocked_cidrs": '["198.51.100.0/24", "203.0.113.9"]'},
     ("DROP TCP:80,443 198.51.100.0/24", "DROP TCP:80,443 203.0.113.9/32"), ()),
    ("egress-allowlist", {}, (), ("ACCEPT TCP:443 203.0.113.50/32", "DROP ALL 0.0.0.0/0")),
    ("egress-allowlist", {"destinations": (
        '[{ cidr = "10.0.1.10", port = "5432" }, { cidr = "10.0.0.2", protocol = "udp", port = "53" },'
        ' { cidr = "10.0.9.0/24", protocol = "ICMP" }, { cidr = "10.8.0.0/16", protocol = "ALL" }]'
    )}, (), (
        "ACCEPT TCP:5432 10.0.1.10/32",
        "ACCEPT UDP:53 10.0.0.2/32",
        "ACCEPT ICMP 10.0.9.0/24",
        "ACCEPT ALL 10.8.0.0/16",
        "DROP ALL 0.0.0.0/0",
    )),
    ("egress-denylist", {}, (), ("DROP ALL 198.51.100.66/32", "ACCEPT ALL 0.0.0.0/0")),
    ("egress-denylist", {"denied_cidrs": '["198.51.100.66", "203.0.113.0/24"]', "allow_other_egress": "false"},
     (), ("DROP ALL 198.51.100.66/32", "DROP ALL 203.0.113.0/24")),
    ("ftp", {}, ("ACCEPT TCP:20-21 0.0.0.0/0",), ()),
    ("open-all", {}, ("ACCEPT ALL 0.0.0.0/0", "ACCEPT ALL ::/0"), ("ACCEPT ALL 0.0.0.0/0", "ACCEPT ALL ::/0")),
    ("open-common", {}, (
        "ACCEPT TCP:22 0.0.0.0/0",
        "ACCEPT TCP:80 0.0.0.0/0",
        "ACCEPT TCP:443 0.0.0.0/0",
        "ACCEPT TCP:3389 0.0.0.0/0",
        "ACCEPT ICMP 0.0.0.0/0",
    ), ("ACCEPT ALL 0.0.0.0/0",)),
]


def rule_text(rule: dict[str, Any]) -> str:
    service = rule["protocol"]
    if rule.get("port") and service in ("TCP", "UDP"):
        service = f"{service}:{rule['port']}"
    peer = rule.get("cidr_block") or rule.get("ipv6_cidr_block")
    return f"{rule['action']} {service} {peer}"


@pytest.fixture(autouse=True)
def _modules_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests link the repository's modules into a temporary tree: allow them as an operator
    would (module sources may not leave the repository root otherwise, issue 12)."""
    monkeypatch.setenv("SGPLAN_MODULE_PATH", str(MODULES))


def root_config(tmp: Path, module: str, inputs: dict[str, str], *, source: str | None = None,
                name: str = '"test-group"', extra: str = "") -> Path:
    """A configuration directory calling `module` once, with its group bound to one instance."""
    directory = tmp / "root"
    directory.mkdir(exist_ok=True)
    if not (tmp / "modules").exists():
        (tmp / "modules").symlink_to(MODULES, target_is_directory=True)
    args = {"source": f'"{source or "../modules/" + module}"', "name": name, **inputs}
    width = max(len(k) for k in args)
    body = "".join(f"  {k.ljust(width)} = {v}\n" for k, v in args.items())
    (directory / "main.sg.hcl").write_text(
        f'sgplan {{\n  region = "ap-guangzhou"\n  stack  = "modules-test"\n}}\n\n'
        f'module "m" {{\n{body}}}\n\n'
        f'output "id" {{\n  value = module.m.id\n}}\n\n'
        f'output "name" {{\n  value = module.m.name\n}}\n{extra}'
    )
    return directory


def plan_json(directory: Path) -> dict[str, Any]:
    live = directory.parent / "live.json"
    if not live.exists():
        live.write_text(json.dumps({"Region": "ap-guangzhou", "SecurityGroups": [], "Instances": []}))
    code, out, err = run("plan", str(directory), "--cloud", f"file:{live}", "--json")
    assert code == 0, err
    return json.loads(out)


def the_group(plan: dict[str, Any]) -> dict[str, Any]:
    groups = [rc for rc in plan["resource_changes"] if rc["type"] == "security_group"]
    assert [rc["address"] for rc in groups] == ["module.m.security_group.this"]
    assert groups[0]["change"]["actions"] == ["create"]
    return groups[0]["change"]["after"]


def validate(directory: Path) -> tuple[int, str]:
    code, out, err = run("validate", str(directory))
    return code, err + out


@pytest.fixture(autouse=True)
def _no_cloud_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SGPLAN_CLOUD", "TENCENTCLOUD_REGION"):
        monkeypatch.delenv(name, raising=False)


# ---------------------------------------------------------------------------------------------
# Shape: what every module declares


def _parsed(module: str) -> dict[str, list[Any]]:
    merged: dict[str, list[Any]] = {}
    for path in sorted((MODULES / module).glob("*.hcl")):
        for kind, blocks in hcl2.loads(path.read_text()).items():
            merged.setdefault(kind, []).extend(blocks)
    return merged


def _labels(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {label.strip('"'): body for block in blocks for label, body in block.items()}


def test_the_module_list_is_the_design_table() -> None:
    assert sorted(p.name for p in MODULES.iterdir() if p.is_dir()) == sorted(INPUTS)


@pytest.mark.parametrize("module", sorted(INPUTS))
def test_module_shape(module: str) -> None:
    parsed = _parsed(module)
    assert set(parsed) <= {"variable", "security_group", "output", "locals"}
    assert list(_labels(parsed["security_group"])) == ["this"]
    assert len(parsed["security_group"]) == 1
    variables = _labels(parsed["variable"])
    assert set(variables) == {"name", "description", "tags", *INPUTS[module]}
    assert "default" not in variables["name"]
    assert variables["tags"]["default"] == {}
    description = variables["description"]["default"].strip('"')
    assert 0 < len(description) <= MAX_DESCRIPTION
    for name, default in INPUTS[module].items():
        if default is None:
            assert "default" not in variables[name], name
        else:
            assert hcl2.loads(f"x = {default}\n")["x"] == variables[name]["default"], name
    for name, body in variables.items():
        assert body.get("description"), f"{module}: variable {name} has no description"
        assert "type" in body, f"{module}: variable {name} has no type"
    outputs = _labels(parsed["output"])
    assert set(outputs) == {"id", "name"}
    assert outputs["id"]["value"] == "${security_group.this.id}"
    assert outputs["name"]["value"] == "${security_group.this.name}"


@pytest.mark.parametrize("module", sorted(INPUTS))
def test_module_readme_documents_inputs_rules_and_use(module: str) -> None:
    readme = (MODULES / module / "README.md").read_text()
    for heading in ("## Inputs", "## Rules created, in order", "## When to use it", "## Outputs"):
        assert heading in readme, heading
    for name in ("name", "description", "tags", *INPUTS[module]):
        assert f"| `{name}` |" in readme, name
    if module in ("linux-ssh", "windows-rdp"):
        assert "WebRDP" in readme and "WebShell" in readme


# ---------------------------------------------------------------------------------------------
# Rules: the exact rules in the exact order


@pytest.mark.parametrize(
    ("module", "inputs", "ingress", "egress"),
    CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)],
)
def test_module_plans_its_rules_in_order(
    module: str, inputs: dict[str, str], ingress: tuple[str, ...], egress: tuple[str, ...], tmp_path: Path
) -> None:
    call = {**REQUIRED.get(module, {}), **inputs}
    group = the_group(plan_json(root_config(tmp_path, module, call)))
    assert [rule_text(r) for r in group["ingress"]] == list(ingress)
    assert [rule_text(r) for r in group["egress"]] == list(egress)


def test_module_every_case_is_exercised() -> None:
    assert {c[0] for c in CASES} == set(INPUTS)


@pytest.mark.parametrize("module", sorted(INPUTS))
def test_module_name_description_tags_and_outputs(module: str, tmp_path: Path) -> None:
    inputs = {**REQUIRED.get(module, {}), "description": '"my description"', "tags": '{ team = "net" }'}
    plan = plan_json(root_config(tmp_path, module, inputs, name='"team-net-group"'))
    group = the_group(plan)
    assert group["name"] == "team-net-group"
    assert group["description"] == "my description"
    assert group["tags"] == {"team": "net"}
    outputs = plan["planned_values"]["outputs"]
    assert outputs["name"] == {"value": "team-net-group", "known": True}
    assert outputs["id"]["known"] is False  # the group is still to be created


def test_module_default_description_is_used(tmp_path: Path) -> None:
    group = the_group(plan_json(root_config(tmp_path, "web", {})))
    assert group["description"] == "HTTP and HTTPS (TCP 80 and 443) from the allowed ranges"
    assert group["tags"] == {}


def test_bundled_name_resolves_to_the_same_module(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    local = the_group(plan_json(root_config(tmp_path / "a", "ftp", {})))
    bundled = the_group(plan_json(root_config(tmp_path / "b", "ftp", {}, source="sgplan/ftp")))
    assert local == bundled


# ---------------------------------------------------------------------------------------------
# Validation: bad inputs fail at the module call with the variable's message


BAD_INPUTS: list[tuple[str, dict[str, str], str]] = [
    ("linux-ssh", {"allowed_cidrs": '["300.1.1.1/24"]'}, "allowed_cidrs must hold IPv4"),
    ("linux-ssh", {"allowed_cidrs": '["10.0.0.0/33"]'}, "allowed_cidrs must hold IPv4"),
    ("linux-ssh", {"allowed_cidrs": '["office"]'}, "allowed_cidrs must hold IPv4"),
    ("linux-ssh", {"allowed_cidrs": '[""]'}, "allowed_cidrs must hold IPv4"),
    ("linux-ssh", {"allowed_cidrs": '["2001:db8::/32"]'}, "allowed_cidrs must hold IPv4"),
    ("linux-ssh", {"allowed_cidrs": "[]"}, "allowed_cidrs must name at least one"),
    ("windows-rdp", {"allowed_cidrs": '["81.69.102.0/24", "1.2.3"]'}, "allowed_cidrs must hold IPv4"),
    ("web", {"name": '""'}, "name must be 1 to 60 characters"),
    ("web", {"name": '"' + "n" * 61 + '"'}, "name must be 1 to 60 characters"),
    ("web", {"description": '"' + "d" * 101 + '"'}, "description must be at most 100"),
    ("ping", {"allowed_ipv6_cidrs": '["10.0.0.0/8"]'}, "allowed_ipv6_cidrs must hold IPv6"),
    ("open-port", {"port": '"0"'}, "port must be a port"),
    ("open-port", {"port": '"70000"'}, "port must be a port"),
    ("open-port", {"port": '"http"'}, "port must be a port"),
    ("open-port", {"port": '"80-"'}, "port must be a port"),
    ("open-port", {"port": '""'}, "port must be a port"),
    ("open-port", {"port": '"1101"', "protocol": '"ICMP"'}, "protocol must be TCP or UDP"),
    ("block-port", {"port": '"22"', "blocked_cidrs": '["10.0.0.256"]'}, "blocked_cidrs must hold IPv4"),
    ("egress-allowlist", {"destinations": "[]"}, "destinations must list at least one"),
    ("egress-allowlist", {"destinations": '[{ protocol = "TCP" }]'}, "each destination needs a cidr"),
    ("egress-allowlist", {"destinations": '[{ cidr = "10.0.0.1", prot = "TCP" }]'}, "each destination needs a cidr"),
    ("egress-allowlist", {"destinations": '[{ cidr = "10.0.0.1", protocol = "GRE" }]'}, "protocol must be TCP, UDP, ICMP or ALL"),
    ("egress-allowlist", {"destinations": '[{ cidr = "10.0.0.0/40" }]'}, "each destination's cidr must hold IPv4"),
    ("egress-denylist", {"denied_cidrs": "[]"}, "denied_cidrs must name at least one"),
]


@pytest.mark.parametrize(("module", "inputs", "message"), BAD_INPUTS, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD_INPUTS)])
def test_module_rejects_bad_inputs(module: str, inputs: dict[str, str], message: str, tmp_path: Path) -> None:
    name = inputs.pop("name", '"test-group"')
    directory = root_config(tmp_path, module, {**REQUIRED.get(module, {}), **inputs}, name=name)
    code, text = validate(directory)
    assert code == 1
    assert message in text
    assert "Traceback" not in text
    assert "root/main.sg.hcl:" in text  # the diagnostic points at the module call


def test_module_requires_its_required_inputs(tmp_path: Path) -> None:
    code, text = validate(root_config(tmp_path, "open-port", {}))
    assert code == 1
    assert "port" in text


def _ipv4_cidrs() -> st.SearchStrategy[str]:
    address = st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))
    prefix = st.integers(0, 32).map(lambda p: f"/{p}")
    return st.tuples(address, st.one_of(st.just(""), prefix)).map("".join)


_SLOW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_SLOW
@given(cidrs=st.lists(_ipv4_cidrs(), min_size=1, max_size=3, unique_by=lambda c: normalize_cidr(c, 4)))
def test_module_accepts_every_ipv4_cidr(cidrs: list[str], tmp_path_factory: pytest.TempPathFactory) -> None:
    directory = root_config(tmp_path_factory.mktemp("cidr"), "linux-ssh", {"allowed_cidrs": json.dumps(cidrs)})
    code, text = validate(directory)
    assert code == 0, text


@_SLOW
@given(text=st.text(alphabet="0123456789./:", min_size=1, max_size=18))
def test_module_cidr_check_never_admits_what_the_cloud_rejects(
    text: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Whatever the module's own validation admits is a valid IPv4 network (soundness)."""
    try:
        valid = ipaddress.ip_network(text, strict=False).version == 4
    except ValueError:
        valid = False
    directory = root_config(tmp_path_factory.mktemp("cidr"), "telnet", {"allowed_cidrs": json.dumps([text])})
    code, out = validate(directory)
    if not valid:
        assert code == 1, f"{text!r} was admitted"
        assert "allowed_cidrs must hold IPv4" in out  # caught at the module call, not only later


@_SLOW
@given(low=st.integers(1, 65535), high=st.integers(1, 65535), form=st.sampled_from(["one", "range", "list"]))
def test_module_accepts_every_valid_port(low: int, high: int, form: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    low, high = min(low, high), max(low, high)
    port = {"one": str(low), "range": f"{low}-{high}", "list": f"{low},{high}"}[form]
    directory = root_config(tmp_path_factory.mktemp("port"), "open-port", {"port": f'"{port}"'})
    code, text = validate(directory)
    assert code == 0, text


@_SLOW
@given(number=st.one_of(st.integers(65536, 10**7), st.just(0)))
def test_module_rejects_ports_out_of_range(number: int, tmp_path_factory: pytest.TempPathFactory) -> None:
    directory = root_config(tmp_path_factory.mktemp("port"), "block-port", {"port": f'"{number}"'})
    code, text = validate(directory)
    assert code == 1
    assert "port must be a port" in text


# ---------------------------------------------------------------------------------------------
# Formatting


def test_modules_and_examples_are_formatted() -> None:
    pytest.importorskip("sgplan.cli.fmt", reason="sgplan fmt is not written yet")
    for target in (MODULES, REPO / "examples"):
        code, out, err = run("fmt", str(target), "--check")
        assert code == 0, out + err
