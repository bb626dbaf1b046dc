"""One planned API call (`Operation`) and the placeholders that stand for ids known only after apply.

The planner emits operations in DESIGN §6 stage order; `apply/` walks them. Params are in the API's
own shape, so a saved plan shows exactly what will be sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Mapping


class Stage(IntEnum):
    """DESIGN §6 apply order; an operation never depends on one in a later stage."""

    CREATE_TEMPLATES = 0  # parameter templates: create, rename, member edits (issue 17)
    CREATE_GROUPS = 1
    EDIT_GROUPS = 2
    SET_BINDINGS = 3
    REMOVE_REFERENCES = 4
    UNBIND_DELETED = 5
    DELETE_GROUPS = 6
    DELETE_TEMPLATES = 7  # after every rule naming them is gone (issue 17)

    @property
    def title(self) -> str:
        return _STAGE_TITLES[self]


_STAGE_TITLES = {
    Stage.CREATE_TEMPLATES: "create and edit templates",
    Stage.DELETE_TEMPLATES: "delete templates",
    Stage.CREATE_GROUPS: "create groups",
    Stage.EDIT_GROUPS: "edit groups",
    Stage.SET_BINDINGS: "set bindings",
    Stage.REMOVE_REFERENCES: "remove references to deleted groups",
    Stage.UNBIND_DELETED: "unbind deleted groups",
    Stage.DELETE_GROUPS: "delete groups",
}

_PLACEHOLDER = re.compile(r"^\$\{(?P<address>.+)\.id\}$")


def placeholder(address: str) -> str:
    """The stand-in for the id of the group at `address`, substituted when it has been created."""
    return "${" + address + ".id}"


def placeholder_address(value: Any) -> str | None:
    """The address a placeholder stands for, or None when `value` is not a placeholder.

    >>> placeholder_address(placeholder("security_group.web"))
    'security_group.web'
    """
    if isinstance(value, str):
        match = _PLACEHOLDER.match(value)
        if match:
            return match.group("address")
    return None


def substitute(value: Any, ids: Mapping[str, str]) -> Any:
    """A copy of `value` (params) with every placeholder whose group `ids` knows replaced by its id."""
    if isinstance(value, dict):
        return {k: substitute(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, ids) for v in value]
    address = placeholder_address(value)
    if address is not None and address in ids:
        return ids[address]
    return value


def placeholders_in(value: Any) -> set[str]:
    """Addresses of every placeholder inside `value`."""
    if isinstance(value, dict):
        return set().union(*(placeholders_in(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(placeholders_in(v) for v in value)) if value else set()
    address = placeholder_address(value)
    return {address} if address else set()


@dataclass(frozen=True, slots=True)
class Operation:
    """One API call of the plan.

    `group` is the id of the group the call changes (a placeholder for a group created by this
    plan); `address` its configuration address (or the binding/instance address for CVM calls).
    `expected_version` is the Version the call carries for an existing group. For a group this plan
    creates, the Version is only known after creation: `version_offset` then counts the rule calls
    made on it since, and apply fills `Version` = created Version + offset. `expected_count` is the
    direction's rule count after the call (apply uses it to recognise an edit that a dropped
    connection hid). `summary` is the human line the renderers print. `affects` is what the call
    touches (instances, groups written or read) at its place in the order: apply runs calls in
    parallel only when their footprints are apart (see `plan/ordering.footprint`).
    """

    stage: Stage
    service: str
    action: str
    params: dict[str, Any]
    address: str | None = None
    group: str | None = None
    expected_version: int | None = None
    version_offset: int | None = None
    direction: str | None = None
    expected_count: int | None = None
    summary: str = ""
    instance_ids: tuple[str, ...] = field(default=())
    affects: tuple[str, ...] = field(default=())  # footprint for parallel apply (plan/ordering.py)

    @property
    def is_rule_edit(self) -> bool:
        return self.action in RULE_EDIT_ACTIONS

    def depends_on(self) -> set[str]:
        """Addresses of groups created by the plan that this call needs ids for."""
        return placeholders_in(self.params)


# Calls that create a resource a placeholder stands for (groups, and templates: issue 17).
TEMPLATE_CREATE_ACTIONS = frozenset({"CreateAddressTemplate", "CreateAddressTemplateGroup", "CreateServiceTemplate",
                                     "CreateServiceTemplateGroup"})
TEMPLATE_DELETE_ACTIONS = frozenset({"DeleteAddressTemplate", "DeleteAddressTemplateGroup", "DeleteServiceTemplate",
                                     "DeleteServiceTemplateGroup"})
TEMPLATE_EDIT_ACTIONS = frozenset({"ModifyAddressTemplateAttribute", "ModifyAddressTemplateGroupAttribute",
                                   "ModifyServiceTemplateAttribute", "ModifyServiceTemplateGroupAttribute",
                                   "AddTemplateMember", "DeleteTemplateMember", "ModifyTemplateMember"})
TEMPLATE_ACTIONS = TEMPLATE_CREATE_ACTIONS | TEMPLATE_DELETE_ACTIONS | TEMPLATE_EDIT_ACTIONS
CREATE_ACTIONS = frozenset({"CreateSecurityGroupWithPolicies"}) | TEMPLATE_CREATE_ACTIONS

RULE_EDIT_ACTIONS = frozenset(
    {"CreateSecurityGroupPolicies", "DeleteSecurityGroupPolicies", "ReplaceSecurityGroupPolicy", "ReplaceSecurityGroupPolicies"}
)
