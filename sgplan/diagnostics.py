"""Diagnostics: user-facing problems with a source position, collected rather than raised."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Iterable

from sgplan.model import SourceRange


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: Severity
    message: str
    range: SourceRange | None = None  # None for cloud and flag problems
    address: str | None = None

    def __str__(self) -> str:
        prefix = f"{self.range.file}:{self.range.line}: " if self.range else ""
        if self.address and not self.range:
            prefix = f"{self.address}: "
        tag = "warning: " if self.severity is Severity.WARNING else ""
        return f"{prefix}{tag}{self.message}"


def error(message: str, range: SourceRange | None = None, address: str | None = None) -> Diagnostic:
    return Diagnostic(Severity.ERROR, message, range, address)


def warning(message: str, range: SourceRange | None = None, address: str | None = None) -> Diagnostic:
    return Diagnostic(Severity.WARNING, message, range, address)


def has_errors(diags: Iterable[Diagnostic]) -> bool:
    return any(d.severity is Severity.ERROR for d in diags)


def sort_key(d: Diagnostic) -> tuple:
    r = d.range
    return (d.severity is Severity.ERROR, r.file if r else "", r.line if r else 0, r.column if r else 0)


class UserError(Exception):
    """A problem the user can fix (bad flag, missing credentials, stale plan): one line, exit 1."""
