"""Effective-access analysis: first-match evaluation as exact traffic sets (access, space),
exposure before/after (exposure), policy findings (checks), one-packet explanations (explain).
"""

from sgplan.analysis.access import Evaluation, Evaluator, Packet, Templates, evaluate, first_match, policy
from sgplan.analysis.checks import CHECK_IDS, CHECKS, Check, Finding, fails, run_checks
from sgplan.analysis.exposure import (
    AccessView,
    ExposureChange,
    TransientExposure,
    compare,
    compare_states,
    transient_exposure,
)
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
    "MatchedRule",
    "Packet",
    "Templates",
    "TransientExposure",
    "after_view",
    "annotate_plan",
    "before_view",
    "compare",
    "compare_states",
    "evaluate",
    "explain",
    "fails",
    "first_match",
    "policy",
    "run_checks",
    "transient_exposure",
]
