"""Effective-access analysis: first-match evaluation as exact traffic sets (access, space), one
layer per group stacked per instance (layers), exposure before/after (exposure), policy findings
(checks, internet), one-packet explanations (explain), the analysis a plan carries (planned).
"""

from sgplan.analysis.access import Evaluation, Evaluator, Packet, Templates, evaluate, first_match, gc_paused, policy
from sgplan.analysis.checks import CHECK_IDS, CHECKS, Check, Finding, Scope, fails, run_checks
from sgplan.analysis.exposure import (
    AccessView,
    ExposureChange,
    TransientExposure,
    changed_subjects,
    compare,
    compare_states,
    group_changes,
    transient_exposure,
)
from sgplan.analysis.layers import Layer, stack
from sgplan.analysis.explain import Explanation, MatchedRule, explain
from sgplan.analysis.planned import after_view, annotate_plan, before_view

__all__ = [
    "AccessView",
    "CHECKS",
    "CHECK_IDS",
    "Check",
    "Evaluation",
    "Evaluator",
    "Explanation",
    "ExposureChange",
    "Finding",
    "Layer",
    "MatchedRule",
    "Packet",
    "Scope",
    "Templates",
    "TransientExposure",
    "after_view",
    "annotate_plan",
    "before_view",
    "changed_subjects",
    "compare",
    "compare_states",
    "evaluate",
    "explain",
    "fails",
    "first_match",
    "gc_paused",
    "group_changes",
    "policy",
    "run_checks",
    "stack",
    "transient_exposure",
]
