"""The command line: a thin typer shell. Each command lives in its own module and registers
itself here; commands parse flags, call the stages in `workflow.py`, render, pick the exit code.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

from sgplan.cloud.base import CloudError
from sgplan.diagnostics import UserError

app = typer.Typer(
    name="sgplan",
    help="Plan and apply Tencent Cloud security groups from HCL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command modules, in help order. A module missing from a partial checkout is skipped.
_COMMANDS = (
    "validate",
    "plan",
    "apply",
    "show",
    "import_cmd",
    "fmt",
    "check",
    "explain",
    "snapshot",
    "fake_cloud",
)

for _name in _COMMANDS:
    try:
        _module = importlib.import_module(f"sgplan.cli.{_name}")
    except ModuleNotFoundError as exc:  # pragma: no cover - only while a command is being written
        if exc.name != f"sgplan.cli.{_name}":
            raise
        continue
    _module.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and exit 1 (traceback with SGPLAN_DEBUG=1)."""
    from sgplan.cli.workflow import COMMAND_LINE, ConfigErrors

    args = sys.argv[1:] if argv is None else list(argv)
    COMMAND_LINE.set(tuple(args))
    try:
        app(args=args, standalone_mode=True)
    except ConfigErrors:
        sys.exit(1)
    except (UserError, CloudError) as exc:
        if os.environ.get("SGPLAN_DEBUG") == "1":
            raise
        message = str(exc)
        if isinstance(exc, CloudError):
            message = f"cloud error {exc.code}: {exc.message}" + (f" (request {exc.request_id})" if exc.request_id else "")
        print(f"error: {message}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # a bug: say so in one line unless debugging
        if os.environ.get("SGPLAN_DEBUG") == "1":
            raise
        print(f"error: internal error: {type(exc).__name__}: {exc} (set SGPLAN_DEBUG=1 for a traceback)", file=sys.stderr)
        sys.exit(1)
