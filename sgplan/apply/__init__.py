"""Applying plans: `order` schedules the operations, `execute` runs them (retries, conflicts,
created ids, binding waits), `fresh.check_fresh` guards saved plans against a changed cloud.
"""

from sgplan.apply.execute import ApplyResult, execute
from sgplan.apply.fresh import check_fresh

__all__ = ["execute", "ApplyResult", "check_fresh"]
