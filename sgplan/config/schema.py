"""The HCL schema (DESIGN §2): which blocks and attributes exist where, with label counts and
required attributes. Unknown blocks and attributes are errors naming them, as in Terraform."""

from __future__ import annotations

from dataclasses import dataclass, field

from sgplan.diagnostics import Diagnostic, error
from sgplan.hcl.syntax import Block

RULE_ATTRIBUTES = frozenset(
    {
        "action",
        "protocol",
        "port",
        "cidr_block",
        "ipv6_cidr_block",
        "cidr_blocks",
        "ipv6_cidr_blocks",
        "security_group_id",
        "address_template_id",
        "address_template_group_id",
        "service_template_id",
        "service_template_group_id",
        "description",
    }
)

ANY = None  # attributes not fixed by the schema (locals, module inputs)


@dataclass(frozen=True)
class Spec:
    labels: tuple[str, ...] = ()  # label names, for messages
    attributes: frozenset[str] | None = frozenset()
    required: frozenset[str] = frozenset()
    blocks: dict[str, "Spec"] = field(default_factory=dict)
    required_blocks: frozenset[str] = frozenset()
    single_blocks: frozenset[str] = frozenset()
    # The attribute names of a block of this kind that needs no labels, no nested blocks and no
    # particular attribute (a rule block), else None: `check_block` tells such a nested block
    # is fine in its parent's loop, without a call (100,000 rule blocks at G=2,000, issue 18).
    leaf: frozenset[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        simple = not self.labels and not self.required and not self.required_blocks and self.attributes is not ANY
        object.__setattr__(self, "leaf", self.attributes if simple else None)


_RULE = Spec(attributes=RULE_ATTRIBUTES)
_DYNAMIC = Spec(
    labels=("direction",),
    attributes=frozenset({"for_each", "iterator"}),
    required=frozenset({"for_each"}),
    blocks={"content": _RULE},
    required_blocks=frozenset({"content"}),
    single_blocks=frozenset({"content"}),
)

TOP_LEVEL: dict[str, Spec] = {
    "sgplan": Spec(attributes=frozenset({"region", "stack", "cloud"})),
    "variable": Spec(
        labels=("name",),
        attributes=frozenset({"type", "default", "description", "sensitive", "nullable"}),
        blocks={"validation": Spec(attributes=frozenset({"condition", "error_message"}), required=frozenset({"condition", "error_message"}))},
    ),
    "locals": Spec(attributes=ANY),
    "security_group": Spec(
        labels=("name",),
        attributes=frozenset(
            {"name", "description", "project_id", "tags", "id", "prevent_destroy", "ignore_findings",
             "for_each", "count"}
        ),
        blocks={"ingress": _RULE, "egress": _RULE, "dynamic": _DYNAMIC},
    ),
    "binding": Spec(
        labels=("name",),
        attributes=frozenset({"instance_ids", "security_groups", "for_each", "count"}),
        required=frozenset({"instance_ids", "security_groups"}),
    ),
    "module": Spec(labels=("name",), attributes=ANY, required=frozenset({"source"})),
    # A reachability contract (issue 16); `instances` omitted = every instance a binding names.
    "expect": Spec(
        labels=("name",),
        attributes=frozenset({"instances", "security_groups", "direction", "peer", "protocol", "ports", "decision",
                              "description"}),
        required=frozenset({"direction", "peer", "protocol", "decision"}),
    ),
    # Parameter templates as code (issue 17); build checks the member syntax.
    "address_template": Spec(labels=("name",), attributes=frozenset({"name", "id", "addresses", "for_each", "count"}),
                             required=frozenset({"addresses"})),
    "address_template_group": Spec(labels=("name",), attributes=frozenset({"name", "id", "template_ids", "for_each", "count"}),
                                   required=frozenset({"template_ids"})),
    "service_template": Spec(labels=("name",), attributes=frozenset({"name", "id", "services", "for_each", "count"}),
                             required=frozenset({"services"})),
    "service_template_group": Spec(labels=("name",), attributes=frozenset({"name", "id", "template_ids", "for_each", "count"}),
                                   required=frozenset({"template_ids"})),
    # An address change that keeps the group (DESIGN §3); build checks the addresses.
    "moved": Spec(attributes=frozenset({"from", "to"}), required=frozenset({"from", "to"})),
    "output": Spec(
        labels=("name",),
        attributes=frozenset({"value", "description", "sensitive"}),
        required=frozenset({"value"}),
    ),
}

_UNSUPPORTED = {
    "resource": 'sgplan has no "resource" blocks: write security_group "name" { … } directly',
    "provider": "provider blocks are not used: pick the cloud with --cloud or sgplan { cloud }",
    "terraform": 'terraform blocks are not used: sgplan settings go in an "sgplan" block',
    "data": "data blocks are not supported",
}


def check_module_body(body: Block, root: bool, diags: list[Diagnostic]) -> None:
    """Check a module's top-level body (all files merged) against the schema."""
    for name, attribute in body.attributes.items():
        diags.append(error(f'unexpected attribute "{name}" at top level: only blocks are allowed here', attribute.range))
    settings = 0
    for block in body.blocks:
        if block.type == "sgplan":
            settings += 1
            if not root:
                diags.append(error("the sgplan block is only allowed in the root module", block.range))
            elif settings > 1:
                diags.append(error("only one sgplan block is allowed", block.range))
        if block.type in _UNSUPPORTED:
            diags.append(error(_UNSUPPORTED[block.type], block.range))
            continue
        spec = TOP_LEVEL.get(block.type)
        if spec is None:
            known = ", ".join(sorted(TOP_LEVEL))
            diags.append(error(f'unknown block type "{block.type}" (expected one of: {known})', block.range))
            continue
        check_block(block, spec, diags)


def check_block(block: Block, spec: Spec, diags: list[Diagnostic]) -> None:
    """Check labels, attributes and nested blocks of one block (recursively)."""
    if (not block.blocks and not block.labels and not spec.labels and not spec.required_blocks
            and spec.attributes is not ANY and block.attributes.keys() <= spec.attributes
            and spec.required <= block.attributes.keys()):
        return  # the common leaf (a rule block) that is fine: one set comparison, no messages to build
    if len(block.labels) != len(spec.labels):
        if spec.labels:
            diags.append(error(f'{block.type} block needs {len(spec.labels)} label ({", ".join(spec.labels)}), e.g. {block.type} "x" {{ … }}', block.range))
        else:
            diags.append(error(f"{block.type} block takes no labels", block.range))
    if block.type == "dynamic" and block.labels and block.labels[0] not in ("ingress", "egress"):
        diags.append(error(f'dynamic "{block.labels[0]}": only "ingress" and "egress" blocks can be dynamic', block.range))
    if spec.attributes is not ANY:
        for name, attribute in block.attributes.items():
            if name not in spec.attributes:
                diags.append(error(f'unknown attribute "{name}" in {block.type} block', attribute.range))
    for name in sorted(spec.required - block.attributes.keys()):
        diags.append(error(f'{block.type} block is missing the required attribute "{name}"', block.range))
    counts: dict[str, int] = {}
    counted = bool(spec.single_blocks or spec.required_blocks)  # else the counts are never read
    for nested in block.blocks:
        nested_spec = spec.blocks.get(nested.type)
        if nested_spec is None:
            diags.append(error(f'unknown block type "{nested.type}" in {block.type} block', nested.range))
            continue
        if counted:
            counts[nested.type] = counts.get(nested.type, 0) + 1
            if nested.type in spec.single_blocks and counts[nested.type] > 1:
                diags.append(error(f"only one {nested.type} block is allowed in a {block.type} block", nested.range))
        leaf = nested_spec.leaf
        if leaf is not None and not nested.blocks and not nested.labels and nested.attributes.keys() <= leaf:
            continue  # a fine rule block: what check_block would find, without the call
        check_block(nested, nested_spec, diags)
    for name in sorted(spec.required_blocks - counts.keys()):
        diags.append(error(f"{block.type} block is missing its {name} block", block.range))
