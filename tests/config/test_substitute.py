"""`Configuration.evaluate(known_ids, previous=first)`: ids substituted into the first
evaluation give exactly what a full evaluation gives, and the substitution is taken only when
unknown ids flowed nowhere but plain `security_group.x.id` rule sources, binding items and
root outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sgplan.config import load_configuration

BASE = """\
sgplan { stack = "test" }

variable "office" {
  default = "203.0.113.0/24"
}

security_group "web" {
  name = "web"
  ingress {
    action     = "ACCEPT"
    protocol   = "TCP"
    port       = "443"
    cidr_block = var.office
  }
  ingress {
    action            = "ACCEPT"
    protocol          = "TCP"
    port              = "22"
    security_group_id = security_group.bastion.id
    description       = "from bastion"
  }
}

security_group "bastion" {
  name = "bastion"
  egress {
    action            = "ACCEPT"
    protocol          = "ALL"
    security_group_id = security_group.web.id
  }
}
"""

MODULE = """\
variable "peer" {
  default = "sg-0000000f"
}

security_group "inner" {
  ingress {
    action            = "ACCEPT"
    protocol          = "TCP"
    port              = "80"
    security_group_id = var.peer
  }
  ingress {
    action            = "DROP"
    protocol          = "UDP"
    port              = "ALL"
    security_group_id = security_group.inner.id
  }
}

output "id" {
  value = security_group.inner.id
}
"""

# (extra configuration, whether the substitution may be taken)
CASES = {
    "plain rules": ("", True),
    "binding items": ('binding "b" {\n  instance_ids    = ["ins-00000001"]\n'
                      '  security_groups = [security_group.web.id, "sg-0000000a", security_group.bastion.id]\n}\n', True),
    "root output": ('output "web" {\n  value = security_group.web.id\n}\n'
                    'output "both" {\n  value = "${security_group.web.id},${security_group.bastion.id}"\n}\n', True),
    "service template rule (slow path)": (
        'security_group "svc" {\n  ingress {\n    action = "ACCEPT"\n    service_template_id = "ppm-12345678"\n'
        '    security_group_id = security_group.web.id\n  }\n}\n', True),
    "numeric port (slow path)": (
        'security_group "num" {\n  ingress {\n    action = "ACCEPT"\n    protocol = "TCP"\n    port = 8080\n'
        '    security_group_id = security_group.web.id\n  }\n}\n', True),
    "pinned group referenced": (
        'security_group "pinned" {\n  id = "sg-0000000c"\n}\n'
        'security_group "user" {\n  ingress {\n    action = "ACCEPT"\n    protocol = "TCP"\n    port     = "ALL"\n'
        '    security_group_id = security_group.pinned.id\n  }\n}\n', True),
    "local holding an id": ('locals {\n  web = security_group.web.id\n}\n'
                            'security_group "viaLocal" {\n  ingress {\n    action = "ACCEPT"\n    protocol = "TCP"\n    port     = "ALL"\n'
                            '    security_group_id = local.web\n  }\n}\n', False),
    "unused local holding an id": ('locals {\n  web = security_group.web.id\n}\n', False),
    "id in a string template": (
        'security_group "tmpl" {\n  ingress {\n    action = "ACCEPT"\n    protocol = "TCP"\n    port     = "ALL"\n'
        '    security_group_id = "${security_group.web.id}"\n  }\n}\n', False),
    "id in a conditional": (
        'security_group "cond" {\n  ingress {\n    action = "ACCEPT"\n    protocol = "TCP"\n    port     = "ALL"\n'
        '    security_group_id = true ? security_group.web.id : "sg-00000001"\n  }\n}\n', False),
    "id in a function": ('binding "f" {\n  instance_ids    = ["ins-00000002"]\n'
                         '  security_groups = compact([security_group.web.id])\n}\n', False),
    "id in for_each": (
        'security_group "dyn" {\n  dynamic "ingress" {\n    for_each = [security_group.web.id, security_group.bastion.id]\n'
        '    content {\n      action = "ACCEPT"\n      protocol = "TCP"\n      port     = "ALL"\n      security_group_id = ingress.value\n    }\n  }\n}\n',
        False),
    "group name read": ('security_group "named" {\n  description = security_group.web.name\n}\n', False),
    "module input": ('module "m" {\n  source = "./mod"\n  peer = security_group.web.id\n}\n', False),
    "module output": ('module "m" {\n  source = "./mod"\n}\n'
                      'output "inner" {\n  value = module.m.id\n}\n', False),
}


def _write(tmp_path: Path, extra: str) -> Path:
    (tmp_path / "main.sg.hcl").write_text(BASE + extra)
    (tmp_path / "mod").mkdir(exist_ok=True)
    (tmp_path / "mod" / "main.sg.hcl").write_text(MODULE)
    return tmp_path


def _ids(desired) -> dict[str, str]:
    return {g.address: f"sg-{i:08x}" for i, g in enumerate(desired.groups, start=0x100) if g.id is None}


@pytest.mark.parametrize("name", list(CASES))
def test_substitution_equals_a_full_evaluation(tmp_path: Path, name: str) -> None:
    extra, substitutable = CASES[name]
    cfg, diags = load_configuration(_write(tmp_path, extra), env={})
    assert cfg is not None, diags
    first, first_diags = cfg.evaluate({})
    assert first is not None, first_diags
    assert (cfg._substitutable is not None) is substitutable
    ids = _ids(first)
    fast = cfg.evaluate(ids, previous=first)
    full = cfg.evaluate(ids)
    assert fast == full
    assert [o for o in fast[0].outputs] == [o for o in full[0].outputs]
    # Some ids unknown still: the GroupRefs that stay are the same too.
    partial = dict(list(ids.items())[:1])
    assert cfg.evaluate(partial, previous=first) == cfg.evaluate(partial)


def test_the_substitution_is_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sgplan.config import configuration

    extra = CASES["binding items"][0] + CASES["root output"][0]
    cfg, _ = load_configuration(_write(tmp_path, extra), env={})
    first, _ = cfg.evaluate({})
    ids = _ids(first)
    full = cfg.evaluate(ids)
    monkeypatch.setattr(configuration.Configuration, "_evaluate", lambda *a: pytest.fail("evaluated again"))
    fast, diags = cfg.evaluate(ids, previous=first)
    assert (fast, diags) == full
    web = next(g for g in fast.groups if g.address == "security_group.bastion").egress[0]
    assert web.security_group_id == ids["security_group.web"]
    assert dict((o.name, o.value) for o in fast.outputs)["web"] == ids["security_group.web"]


@pytest.mark.parametrize("known, why", [
    ({"security_group.pinned": "sg-0000000d"}, "a pinned group's live id differs"),
    ({"security_group.web": "not-an-id"}, "an id a full evaluation rejects"),
])
def test_falls_back_when_substitution_would_differ(tmp_path: Path, known: dict[str, str], why: str) -> None:
    cfg, _ = load_configuration(_write(tmp_path, CASES["pinned group referenced"][0]), env={})
    first, _ = cfg.evaluate({})
    assert cfg._substitutable is not None
    assert cfg.evaluate(known, previous=first) == cfg.evaluate(known), why


def test_binding_listing_one_group_twice_after_substitution_is_reported(tmp_path: Path) -> None:
    extra = CASES["binding items"][0]
    cfg, _ = load_configuration(_write(tmp_path, extra), env={})
    first, _ = cfg.evaluate({})
    known = {"security_group.web": "sg-0000000a"}  # the literal listed next to it
    fast = cfg.evaluate(known, previous=first)
    assert fast == cfg.evaluate(known)
    assert fast[0] is None and any("listed twice" in str(d) for d in fast[1])


def test_a_foreign_previous_is_not_substituted(tmp_path: Path) -> None:
    cfg, _ = load_configuration(_write(tmp_path, ""), env={})
    first, _ = cfg.evaluate({})
    other, _ = load_configuration(_write(tmp_path, ""), env={})
    ids = _ids(first)
    assert other.evaluate(ids, previous=first) == other.evaluate(ids)


_REF = st.sampled_from(["security_group.web.id", "security_group.bastion.id", '"sg-0000000a"',
                        "security_group.pinned.id"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sources=st.lists(_REF, min_size=1, max_size=4), binding=st.lists(_REF, min_size=1, max_size=3, unique=True),
       known=st.sets(st.sampled_from(["security_group.web", "security_group.bastion", "security_group.pinned",
                                      "security_group.gen"])))
def test_random_plain_references_substitute_exactly(tmp_path_factory, sources: list[str], binding: list[str],
                                                    known: set[str]) -> None:
    tmp_path = tmp_path_factory.mktemp("cfg")
    rules = "".join(f'  ingress {{\n    action = "ACCEPT"\n    protocol = "TCP"\n    port = "{i + 1}"\n'
                    f'    security_group_id = {src}\n  }}\n' for i, src in enumerate(sources))
    extra = (CASES["pinned group referenced"][0] + f'security_group "gen" {{\n{rules}}}\n'
             f'binding "b" {{\n  instance_ids = ["ins-00000001"]\n  security_groups = [{", ".join(binding)}]\n}}\n')
    cfg, diags = load_configuration(_write(tmp_path, extra), env={})
    first, more = cfg.evaluate({})
    assert first is not None, more
    assert cfg._substitutable is not None
    ids = {a: f"sg-{i:08x}" for i, a in enumerate(sorted(known), start=0x200)}
    assert cfg.evaluate(ids, previous=first) == cfg.evaluate(ids)


def test_a_duplicate_made_by_substitution_is_reported_like_a_full_evaluation(tmp_path: Path) -> None:
    """Substitution re-validates only the groups it changed (issue 18): a reference that now
    equals a literal rule of its group is still the DuplicatePolicy error a full evaluation gives."""
    extra = """
security_group "dup" {
  ingress {
    action            = "ACCEPT"
    protocol          = "TCP"
    port              = "22"
    security_group_id = security_group.bastion.id
  }
  ingress {
    action            = "ACCEPT"
    protocol          = "TCP"
    port              = "22"
    security_group_id = "sg-00000fff"
  }
}
"""
    cfg, diags = load_configuration(_write(tmp_path, extra), env={})
    assert cfg is not None, diags
    first, first_diags = cfg.evaluate({})
    assert first is not None and cfg._substitutable is not None, first_diags
    ids = {"security_group.bastion": "sg-00000fff", "security_group.web": "sg-00000eee"}
    fast, full = cfg.evaluate(ids, previous=first), cfg.evaluate(ids)
    assert fast == full and fast[0] is None
    assert any("duplicate ingress rule" in str(d) for d in fast[1])


@pytest.mark.parametrize("direction", ["ingress", "egress"])
def test_two_references_made_equal_by_substitution_in_either_direction(tmp_path: Path, direction: str) -> None:
    """Each direction is checked on its own (`_resolve_rules`): two references to groups given
    the same id collide in the direction that holds them, and the same rule in both directions
    is no collision."""
    other = "egress" if direction == "ingress" else "ingress"
    extra = f"""
security_group "dup" {{
  {other} {{
    action            = "ACCEPT"
    protocol          = "TCP"
    port              = "22"
    security_group_id = security_group.bastion.id
  }}
  {direction} {{
    action            = "ACCEPT"
    protocol          = "TCP"
    port              = "22"
    security_group_id = security_group.bastion.id
  }}
  {direction} {{
    action            = "ACCEPT"
    protocol          = "TCP"
    port              = "22"
    security_group_id = security_group.web.id
  }}
}}
"""
    cfg, diags = load_configuration(_write(tmp_path, extra), env={})
    assert cfg is not None, diags
    first, first_diags = cfg.evaluate({})
    assert first is not None and cfg._substitutable is not None, first_diags
    distinct = {"security_group.bastion": "sg-00000fff", "security_group.web": "sg-00000eee"}
    assert cfg.evaluate(distinct, previous=first) == cfg.evaluate(distinct)
    assert cfg.evaluate(distinct, previous=first)[0] is not None
    same = {"security_group.bastion": "sg-00000fff", "security_group.web": "sg-00000fff"}
    fast, full = cfg.evaluate(same, previous=first), cfg.evaluate(same)
    assert fast == full and fast[0] is None
    assert [str(d).split(": ", 1)[1] for d in fast[1]] == [
        f"duplicate {direction} rule: same as rule 1 (line 40); the API rejects it (DuplicatePolicy)"]
