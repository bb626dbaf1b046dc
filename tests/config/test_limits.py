"""Hostile configurations (issue 12 §9, §10): no expression hangs, exhausts memory or crashes
the evaluator, and module sources stay inside the repository. The limits are documented in
docs/limits.md; each test names the limit it reaches.

The table at the end runs every case through `sgplan validate` in a subprocess, so the test
harness (not the code under test) bounds each case's wall-clock time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sgplan.config.evaluate import Evaluator, Scope
from sgplan.config.modules import MAX_MODULE_DEPTH, MAX_MODULE_INSTANCES, MODULE_PATH_ENV
from sgplan.config.values import MAX_STRING_LENGTH, Budget, EvalError
from sgplan.hcl.parser import parse_text
from tests.config.conftest import evaluate_dir
from tests.config.conftest import evaluate_expression as ev

REPO = Path(__file__).resolve().parents[2]
CASE_TIMEOUT = 30  # seconds per CLI case: the bound "Done when" asks for, enforced from outside


def _error(source: str, budget: Budget | None = None, **names: object) -> str:
    tree = parse_text(f"x = {source}\n")
    with pytest.raises(EvalError) as info:
        Evaluator(budget).evaluate(tree.children[0].children[0].children[2], Scope(names))
    return info.value.message


def _messages(config_dir, files: dict[str, str] | str) -> list[str]:
    desired, messages = evaluate_dir(config_dir(files))
    assert desired is None
    return messages


# -- regular expressions: RE2, linear -------------------------------------------------------------


def test_catastrophic_pattern_is_linear() -> None:
    text = "a" * 50_000 + "!"
    ev("1")  # the parser is built once per process: not part of the measurement
    start = time.monotonic()
    assert ev(f'replace("{text}", "/(a+)+$/", "b")') == text  # no match: `!` ends the string
    assert ev(f'replace("{text[:-1]}", "/(a+)+$/", "b")') == "b"
    assert time.monotonic() - start < 5  # backtracking engines take years here


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # Go's ReplaceAllString: an empty match right after a match is not replaced again.
        ('replace("baaac", "/a*/", "X")', "XbXcX"),
        ('replace("abc", "//", "-")', "-a-b-c-"),  # `//` is the empty pattern, as in Terraform
        ('replace("a/b", "/", "-")', "a-b"),
        ('replace("abcb", "/(?P<n>b)(c)?/", "[$n|$2|$${1}x|$1x|$$|$9]")', "a[b|c|bx||$|][b||bx||$|]"),
        ('replace("a.b", "/\\\\./", "$")', "a$b"),  # a lone `$` stays literal
        ('replace("x1y22", "/[0-9]+/", "<$0>")', "x<1>y<22>"),
        ('replace("Hello", "/(?i)h/", "j")', "jello"),
        ('regex("[a-z]+", "12 ab 34")', "ab"),
        ('regex("(\\\\d+)-(\\\\d+)", "port 80-90")', ["80", "90"]),
        ('regex("(?P<lo>\\\\d+)-(?P<hi>\\\\d+)", "80-90")', {"lo": "80", "hi": "90"}),
        ('regex("a(b)?", "a")', [None]),
        ('regexall("[0-9]+", "a1b22c333")', ["1", "22", "333"]),
        ('regexall("x", "abc")', []),
        ('regexall("a*", "baaac")', ["", "aaa", ""]),
        ('length(regexall("\\\\pL", "héllo wörld"))', 10),
    ],
)
def test_regex_semantics_follow_go(source: str, expected: object) -> None:
    assert ev(source) == expected


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ('replace("abc", "/(?=a)/", "")', "invalid regular expression"),  # look-ahead: not RE2
        ('replace("abc", "/(a/", "")', "invalid regular expression"),
        ('replace("abc", "/a{1001}/", "")', "invalid regular expression"),
        ('regex("(\\\\1)", "aa")', "invalid regular expression"),  # back-references: not RE2
        ('regex("b", "aaa")', "did not match"),
        ('regex("(a)(?P<x>b)", "ab")', "mixes named and unnamed"),
    ],
)
def test_regex_errors_are_clear(source: str, fragment: str) -> None:
    assert fragment in _error(source)


def test_regex_errors_print_nothing_themselves(capfd: pytest.CaptureFixture[str]) -> None:
    _error('replace("abc", "/(?=x)/", "")')
    assert capfd.readouterr().err == ""  # RE2 logs parse errors to stderr unless told not to


# -- value limits -----------------------------------------------------------------------------------


def test_doubling_locals_stop_at_the_value_size_limit(config_dir) -> None:
    lines = ['  l0 = ["aaaaaaaaaa"]'] + [f"  l{i + 1} = [local.l{i}, local.l{i}]" for i in range(60)]
    messages = _messages(config_dir, "locals {\n" + "\n".join(lines) + "\n}\n")
    assert len(messages) == 1 and "value size limit" in messages[0]


def test_doubling_strings_stop_at_the_string_limit(config_dir) -> None:
    lines = ['  s0 = "aaaaaaaaaa"'] + [f'  s{i + 1} = "${{local.s{i}}}${{local.s{i}}}"' for i in range(60)]
    messages = _messages(config_dir, "locals {\n" + "\n".join(lines) + "\n}\n")
    assert len(messages) == 1 and "string limit" in messages[0]
    assert messages[0].split(":")[1] == "19"  # s17 is the first over 1 MiB: its line


def test_nested_for_stops_at_the_evaluation_limit() -> None:
    # The full-size case runs through the CLI below; here a small budget shows the mechanism.
    source = "[for a in range(1000): [for b in range(1000): [for c in range(1000): c]]]"
    assert "evaluation limit: the configuration needs more than 200,000" in _error(source, Budget(200_000))


def test_the_budget_is_shared_by_the_whole_evaluation() -> None:
    budget = Budget(1_000)
    assert ev("length([for i in range(10): i])") == 10
    with pytest.raises(EvalError) as info:
        Evaluator(budget).evaluate(parse_text("x = [for i in range(100): i]\n").children[0].children[0].children[2], Scope({}))
    assert "evaluation limit" in info.value.message
    with pytest.raises(EvalError) as again:  # said once: later failures stop quietly
        budget.charge(1)
    assert again.value.reported


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ('format("%1000000000d", 1)', "over the string limit"),
        ('format("%.99999999999999999999f", 1)', "over the string limit"),
        ('format("%-2000000s", "x")', "over the string limit"),
        ("range(100000000)", "more than 1024"),
        ('join(",", [for i in range(100): join("", [for j in range(1024): "xxxxxxxxxxxx"])])', "string limit"),
        ('replace(join("", [for i in range(1024): "x"]), "", join("", [for i in range(1024): "y"]))', "string limit"),
        ('formatlist("%s%s", [for i in range(1024): text], [for i in range(1024): text])', "value size limit"),
        ('length(flatten([for i in range(1024): [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], big]]))', "collection limit"),
        ('jsonencode([for i in range(1024): [for j in range(100): "xxxxxxxxxxxxxxxxxxxxxxxx"]])', "string limit"),
        ('"%{ for i in range(1024) }${text}%{ endfor }"', "string limit"),
        ('replace(join("", [for i in range(1024): "xxxxxxxxxxxxxxx"]), "/x/", "' + "$0" * 100 + '")',
         "string limit"),
    ],
)
def test_builders_refuse_oversized_results(source: str, fragment: str) -> None:
    assert fragment in _error(source, big=[[1] * 1000], text="x" * 100_000)


def test_string_limit_is_not_reached_by_ordinary_strings() -> None:
    assert len(ev('join("", [for i in range(1024): "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])')) == 1024 * 62
    assert MAX_STRING_LENGTH >= 1_000_000


def test_distinct_and_toset_are_linear() -> None:
    start = time.monotonic()
    assert ev("length(distinct(flatten([for i in range(300): [for j in range(300): j]])))") == 300
    assert ev('length(toset([for i in range(1024): "k${i}"]))') == 1024
    assert time.monotonic() - start < 10


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("1" + "0" * 400, "number limit"),
        ("1e400", "number limit"),
        ("1e308 * 10", "number limit"),
        ("1" + "0" * 300 + " * 1" + "0" * 300, "number limit"),
        ("-1e308 - 1e308", "number limit"),
        ("1" + "0" * 300 + " / 1e-10", "number limit"),
        ("1e99999999999999999999", "number limit"),
        ("ceil(1e308 * 100)", "number limit"),
        ('tonumber("1' + "0" * 400 + '")', "number limit"),
        ("abs(-1e308 * 10)", "number limit"),
        ("1 / 0", "division by zero"),
        # `1 % 0` is 1 in cty (its Modulo returns the dividend), not an error: issue 14
    ],
)
def test_numbers_out_of_range_are_errors(source: str, fragment: str) -> None:
    assert fragment in _error(source)


def test_number_edges_keep_working() -> None:
    assert ev("12345678901234567891 % 10") == 1  # exact: no float detour
    assert ev("-7 % 3") == -1 and ev("7 % -3") == 1  # the sign of the dividend, as Go and cty
    assert ev("floor(" + "1" + "0" * 300 + ")") == 10**300
    assert isinstance(ev("1e308 + 1"), int)  # whole floats become exact whole numbers


@pytest.mark.parametrize("root", ["var", "local", "module"])
def test_bare_namespaces_are_not_values(config_dir, root: str) -> None:
    messages = _messages(config_dir, f'output "o" {{ value = {root} }}\n')
    assert messages == [f'{config_dir({})}/main.sg.hcl:1: value: "{root}" cannot be used as a value; '
                        f"refer to one of its attributes ({root}.<name>)"]


@pytest.mark.parametrize(
    "expr", ["[var]", "var[*]", "length(var)", '"${var}"', "[for x in var : x]", "true ? local : 1", "concat(var...)"]
)
def test_namespaces_cannot_hide_inside_expressions(config_dir, expr: str) -> None:
    messages = _messages(config_dir, f'variable "x" {{ default = 1 }}\noutput "o" {{ value = {expr} }}\n')
    assert len(messages) == 1 and "cannot be used as a value" in messages[0]


def test_a_module_call_is_not_a_value(config_dir) -> None:
    messages = _messages(config_dir, {
        "main.sg.hcl": 'module "m" {\n  source = "./m"\n}\noutput "o" { value = module.m }\n',
        "m/main.hcl": 'output "x" { value = 1 }\n',
    })
    assert len(messages) == 1 and '"module.m" cannot be used as a value; refer to one of its outputs' in messages[0]


@pytest.mark.parametrize("escape", ["\\UFFFFFFFF", "\\U00110000", "\\ud800", "\\uDFFF"])
def test_escapes_must_name_unicode_scalar_values(escape: str) -> None:
    assert "not a valid Unicode character" in _error(f'"${{1}}{escape}"')


def test_deep_nesting_is_an_error_not_a_crash(config_dir) -> None:
    for expr in ("(" * 3000 + "1" + ")" * 3000, "[" * 3000 + "]" * 3000):
        messages = _messages(config_dir, f'output "o" {{ value = {expr} }}\n')
        assert len(messages) == 1 and "nest" in messages[0]


# -- modules: fan-out, depth, sources ------------------------------------------------------------


def _fan_out(levels: int, width: int) -> dict[str, str]:
    files = {"main.sg.hcl": 'module "top" {\n  source = "./m0"\n}\n'}
    for level in range(levels):
        calls = "".join(f'module "c{k}" {{\n  source = "../m{level + 1}"\n}}\n' for k in range(width))
        files[f"m{level}/main.hcl"] = 'locals {\n  x = [for i in range(10): i]\n}\n' + calls
    files[f"m{levels}/main.hcl"] = 'locals {\n  x = 1\n}\n'
    return files


def test_module_fan_out_stops_at_the_instance_limit(config_dir) -> None:
    start = time.monotonic()
    messages = _messages(config_dir, _fan_out(10, 5))  # 5**10: ten million instances
    assert time.monotonic() - start < CASE_TIMEOUT
    assert len(messages) == 1 and f"more than {MAX_MODULE_INSTANCES:,} module instances" in messages[0]


def test_a_wide_but_bounded_module_tree_still_loads(config_dir) -> None:
    desired, messages = evaluate_dir(config_dir(_fan_out(4, 5)))  # 781 instances
    assert messages == [] and desired is not None


def test_module_depth_is_bounded(config_dir) -> None:
    levels = MAX_MODULE_DEPTH + 2
    files = {"main.sg.hcl": 'module "m" {\n  source = "./m0"\n}\n'}
    for level in range(levels):
        files[f"m{level}/main.hcl"] = f'module "m" {{\n  source = "../m{level + 1}"\n}}\n'
    files[f"m{levels}/main.hcl"] = "locals {\n  x = 1\n}\n"
    messages = _messages(config_dir, files)
    assert len(messages) == 1 and f"nested more than {MAX_MODULE_DEPTH} deep" in messages[0]


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


MODULE = 'variable "v" {\n  default = 1\n}\noutput "o" {\n  value = var.v\n}\n'


def _caller(source: str) -> str:
    return f'module "m" {{\n  source = "{source}"\n}}\noutput "o" {{ value = module.m.o }}\n'


def test_a_source_outside_the_configuration_is_refused_without_a_repository(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(MODULE_PATH_ENV, raising=False)
    _tree(tmp_path, {"cfg/main.sg.hcl": _caller("../outside"), "outside/main.hcl": MODULE})
    desired, messages = evaluate_dir(tmp_path / "cfg")
    assert desired is None
    assert messages == [
        f'{tmp_path / "cfg"}/main.sg.hcl:2: module "m": source "../outside" is outside the repository root '
        f"({(tmp_path / 'cfg').resolve()}); set {MODULE_PATH_ENV} to allow it"
    ]


def test_a_source_reaching_out_of_the_repository_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(MODULE_PATH_ENV, raising=False)
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    _tree(tmp_path, {
        "repo/envs/prod/main.sg.hcl": _caller("../../../elsewhere"),
        "elsewhere/main.hcl": MODULE,
    })
    desired, messages = evaluate_dir(tmp_path / "repo" / "envs" / "prod")
    assert desired is None and len(messages) == 1 and "is outside the repository root" in messages[0]
    assert "(does not exist)" not in messages[0]


def test_sources_anywhere_in_the_repository_work(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(MODULE_PATH_ENV, raising=False)
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    _tree(tmp_path, {"repo/envs/prod/main.sg.hcl": _caller("../../modules/m"), "repo/modules/m/main.hcl": MODULE})
    desired, messages = evaluate_dir(tmp_path / "repo" / "envs" / "prod")
    assert messages == [] and desired.outputs[0].value == 1


def test_a_git_file_marks_a_repository_too(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(MODULE_PATH_ENV, raising=False)
    _tree(tmp_path, {"repo/.git": "gitdir: /somewhere/else\n", "repo/a/main.sg.hcl": _caller("../m"), "repo/m/main.hcl": MODULE})
    desired, messages = evaluate_dir(tmp_path / "repo" / "a")
    assert messages == [] and desired is not None


def test_a_symlink_cannot_lead_a_source_out(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(MODULE_PATH_ENV, raising=False)
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    _tree(tmp_path, {"repo/main.sg.hcl": _caller("./mods/m"), "outside/m/main.hcl": MODULE})
    (tmp_path / "repo" / "mods").symlink_to(tmp_path / "outside", target_is_directory=True)
    desired, messages = evaluate_dir(tmp_path / "repo")
    assert desired is None and len(messages) == 1 and "is outside the repository root" in messages[0]


def test_a_nested_module_cannot_leave_either(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(MODULE_PATH_ENV, raising=False)
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    _tree(tmp_path, {
        "repo/main.sg.hcl": _caller("./inner"),
        "repo/inner/main.hcl": _caller("../../outside") + 'variable "v" {\n  default = 1\n}\n',
        "outside/main.hcl": MODULE,
    })
    desired, messages = evaluate_dir(tmp_path / "repo")
    assert desired is None and any("is outside the repository root" in m and "inner/main.hcl:2:" in m for m in messages)


def test_the_operator_can_allow_more_directories(tmp_path: Path, monkeypatch) -> None:
    shared = tmp_path / "shared"
    _tree(tmp_path, {"cfg/main.sg.hcl": _caller("../shared/m"), "shared/m/main.hcl": MODULE})
    monkeypatch.setenv(MODULE_PATH_ENV, os.pathsep.join([str(tmp_path / "nothing"), str(shared)]))
    desired, messages = evaluate_dir(tmp_path / "cfg", env={MODULE_PATH_ENV: str(shared)})
    assert messages == [] and desired.outputs[0].value == 1


def test_a_repository_cannot_widen_its_own_root(tmp_path: Path, monkeypatch) -> None:
    # A `.git` inside the configuration makes the root narrower, never wider; settings in the
    # repository (tfvars, an `SGPLAN_MODULE_PATH` file) are not read at all.
    monkeypatch.delenv(MODULE_PATH_ENV, raising=False)
    (tmp_path / ".git").mkdir()
    (tmp_path / "cfg" / ".git").mkdir(parents=True)
    _tree(tmp_path, {
        "cfg/main.sg.hcl": _caller("../m"),
        "cfg/terraform.tfvars": f'{MODULE_PATH_ENV} = "{tmp_path}"\n',
        "cfg/.env": f"{MODULE_PATH_ENV}={tmp_path}\n",
        "m/main.hcl": MODULE,
    })
    desired, messages = evaluate_dir(tmp_path / "cfg")
    assert desired is None and any("is outside the repository root" in m for m in messages)


def test_bundled_modules_are_always_allowed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(MODULE_PATH_ENV, raising=False)
    _tree(tmp_path, {"main.sg.hcl": 'sgplan {\n  stack = "s"\n}\nmodule "m" {\n  source = "sgplan/ftp"\n  name = "ftp"\n}\n'})
    desired, messages = evaluate_dir(tmp_path)
    assert messages == [] and desired.groups


def test_the_repository_examples_keep_working() -> None:
    desired, messages = evaluate_dir(REPO / "examples" / "multi-group", cache=False)
    assert messages == [] and desired is not None


# -- every hostile case through the CLI, each bounded from outside ------------------------------------

BIG = "9" * 5000
CLI_CASES: dict[str, str | dict[str, str]] = {
    "deep parentheses": f'output "o" {{ value = {"(" * 5000}1{")" * 5000} }}\n',
    "deep lists": f'output "o" {{ value = {"[" * 5000}{"]" * 5000} }}\n',
    "deep interpolation": 'output "o" { value = ' + '"${' * 500 + "1" + '}"' * 500 + " }\n",
    "5,000-digit number": f'output "o" {{ value = {BIG} }}\n',
    "5,000-digit number in an expression": f'output "o" {{ value = {BIG} + 1 }}\n',
    "400-digit number": f'output "o" {{ value = {"9" * 400} }}\n',
    "huge float": 'output "o" { value = 1e400 }\n',
    "float overflow": 'output "o" { value = 1e308 * 10 }\n',
    "whole-number overflow": "locals {\n  a = 1" + "0" * 30 + "\n  b = local.a * local.a * local.a * local.a * local.a"
                             " * local.a * local.a * local.a * local.a * local.a\n  c = local.b * 1e10\n}\n",
    "huge exponent": 'output "o" { value = 1e99999999999999999999 }\n',
    "tonumber of 5,000 digits": f'output "o" {{ value = tonumber("{BIG}") + 1 }}\n',
    "escape past Unicode": 'output "o" { value = "\\UFFFFFFFF" }\n',
    "escape of a surrogate": 'output "o" { value = "${1}\\ud800" }\n',
    "bare var": 'output "o" { value = var }\n',
    "bare local": 'output "o" { value = local }\n',
    "bare module": 'output "o" { value = module }\n',
    "var indexed by a number": 'output "o" { value = var[0] }\n',
    "var splat": 'output "o" { value = var[*] }\n',
    "for over var": 'output "o" { value = [for x in var : x] }\n',
    "division by zero": 'output "o" { value = 1 / 0 }\n',
    # (`5 % 0` is 5 in cty, not an error: issue 14)
    "format width": 'output "o" { value = format("%1000000000d", 1) }\n',
    "format precision": 'output "o" { value = format("%.99999999999999999999f", 1) }\n',
    "regex not RE2": 'output "o" { value = replace("abc", "/(?<=a)b/", "") }\n',
    "regex no match": 'output "o" { value = regex("z", "abc") }\n',
    "huge range": 'output "o" { value = range(1000000000) }\n',
    "cidrsubnet newbits": 'output "o" { value = cidrsubnet("::/0", 99999999999999999999, 1) }\n',
    "index far out": 'output "o" { value = [1][99999999999999999999] }\n',
    "doubling locals": "locals {\n  l0 = [\"aaaaaaaaaa\"]\n" + "".join(
        f"  l{i + 1} = [local.l{i}, local.l{i}]\n" for i in range(60)) + "}\n",
    "doubling strings": "locals {\n  s0 = \"aaaaaaaaaa\"\n" + "".join(
        f'  s{i + 1} = "${{local.s{i}}}${{local.s{i}}}"\n' for i in range(60)) + "}\n",
    "nested for": 'output "o" { value = [for a in range(1000): [for b in range(1000): [for c in range(1000): c]]] }\n',
    "join repetition": 'locals {\n  a = join("", [for i in range(1000): "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])\n'
                       '  b = join(local.a, [for i in range(1000): local.a])\n}\n',
    "formatlist repetition": 'locals {\n  a = join("", [for i in range(1000): "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])\n'
                             '  b = formatlist("%s%s", [for i in range(1000): local.a], [for i in range(1000): local.a])\n}\n',
    "comparing huge values": 'locals {\n  r = [for a in range(1000) : [for b in range(1000) : b]]\n'
                             '  e = [for a in range(1000) : local.r == local.r]\n}\n',
    "dynamic block bomb": 'sgplan {\n  stack = "x"\n}\nsecurity_group "g" {\n  dynamic "ingress" {\n'
                          "    for_each = flatten([for a in range(1024) : [for b in range(1024) : b]])\n    content {\n"
                          '      action     = "ACCEPT"\n      protocol   = "TCP"\n      port       = "22"\n'
                          '      cidr_block = "10.0.0.${ingress.value % 256}/32"\n    }\n  }\n}\n',
    "module fan-out": _fan_out(10, 5),
    "module outside the repository": {"cfg/main.sg.hcl": _caller("../../etc")},
}


def _validate(root: Path, case: str | dict[str, str]) -> tuple[int, str, str, float]:
    files = {"main.sg.hcl": case} if isinstance(case, str) else case
    _tree(root, files)
    directory = root / "cfg" if "cfg/main.sg.hcl" in files else root
    env = {k: v for k, v in os.environ.items() if k not in (MODULE_PATH_ENV, "SGPLAN_DEBUG")}
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "sgplan", "validate", str(directory)], capture_output=True,
                          text=True, timeout=CASE_TIMEOUT, env=env, cwd=REPO)
    return proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start


@pytest.mark.parametrize("name", list(CLI_CASES))
def test_hostile_configuration_fails_cleanly(name: str, tmp_path: Path) -> None:
    code, out, err, _elapsed = _validate(tmp_path, CLI_CASES[name])
    lines = err.strip().splitlines()
    assert code == 1, (out, err)
    assert len(lines) == 1, err
    assert "internal error" not in err and "Traceback" not in err
    assert lines[0].startswith(str(tmp_path)), lines[0]  # file:line: message
    assert lines[0].split(":")[1].isdigit(), lines[0]


def test_enough_cli_cases() -> None:
    assert len(CLI_CASES) >= 25
