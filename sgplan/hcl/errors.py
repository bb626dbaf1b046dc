"""`EvalError`: a mistake in a configuration's expressions, found by the syntax layer (a bad
escape, an unterminated template directive) or later by the evaluator (sgplan.config). One
class for both, because `try`/`can` and every diagnostic treat them alike."""

from __future__ import annotations


class EvalError(Exception):
    """A user mistake found while evaluating; `line`/`column` are within the evaluated file.

    `reported` marks an error whose diagnostic was already recorded (e.g. inside a local that
    a caller referenced), so callers only stop and do not report it twice. `static` marks a
    mistake in the configuration's text (an undeclared name, an unknown function, a cycle):
    Terraform reports those before evaluating, so `try` and `can` do not hide them.
    """

    def __init__(self, message: str, line: int = 0, column: int = 0, *, reported: bool = False,
                 static: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.reported = reported
        self.static = static
