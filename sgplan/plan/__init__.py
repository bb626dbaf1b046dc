"""Planning: (desired, live) → `Plan` (resource changes, ordered operations, live fingerprint).

`diff.make_plan` is the entry point; `planfile` saves and loads plans.
"""

from sgplan.plan.diff import make_plan
from sgplan.plan.operation import Operation, Stage
from sgplan.plan.plan import Fingerprint, Plan, ResourceChange, RuleChange

__all__ = ["make_plan", "Plan", "ResourceChange", "RuleChange", "Fingerprint", "Operation", "Stage"]
