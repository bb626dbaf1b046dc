"""The command line: a thin typer shell. Each command lives in its own module and registers
itself here; commands parse flags, call the stages in `workflow.py`, render, pick the exit code.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

from typer import Abort

try:  # recent typer vendors click; older releases use the click package
    from typer._click.exceptions import ClickException, NoArgsIsHelpError
except ImportError:  # pragma: no cover
    from click.exceptions import ClickException, NoArgsIsHelpError

from sgplan.cloud.base import CloudError
from sgplan.diagnostics import UserError
from sgplan.render.escape import visible

app = typer.Typer(
    name="sgplan",
    help="Plan and apply Tencent Cloud security groups from HCL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    # Plain help: the boxed rich layout cuts options at 80 columns and shows Python types.
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from sgplan import __version__

        print(f"sgplan {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Plan and apply Tencent Cloud security groups from HCL."""

# Command modules, in help order. A module missing from a partial checkout is skipped.
_COMMANDS = (
    "validate",
    "plan",
    "apply",
    "show",
    "import_cmd",
    "fmt",
    "check",
    "verify",
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


# Metavars for the options and arguments that do not spell one: help shows these instead of
# the Python types (`<list[str]>`, `<path>`) typer would print.
_ARGUMENT_METAVARS = {"directory": "DIR", "target": "DIR|PLANFILE", "sg_ids": "SG_ID", "paths": "PATH"}


def _readable_metavars(typer_app: typer.Typer) -> None:
    import inspect
    import typing
    from pathlib import Path

    from typer.models import ArgumentInfo, OptionInfo

    groups = [typer_app] + [g.typer_instance for g in typer_app.registered_groups if g.typer_instance]
    for group in groups:
        for command in group.registered_commands:
            try:
                hints = typing.get_type_hints(command.callback)
            except Exception:  # pragma: no cover - an annotation we cannot resolve keeps typer's metavar
                hints = {}
            for name, param in inspect.signature(command.callback).parameters.items():
                info = param.default
                if not isinstance(info, (ArgumentInfo, OptionInfo)) or info.metavar:
                    continue
                if isinstance(info, ArgumentInfo):
                    info.metavar = _ARGUMENT_METAVARS.get(name, name.upper())
                    continue
                hint = hints.get(name)
                base = typing.get_args(hint)[0] if typing.get_origin(hint) in (list, typing.Union) else hint
                if base is bool:
                    continue
                info.metavar = ("DIR" if name.endswith("_dir") else "P" if base is float and name.endswith("rate")
                                else "N" if base in (int, float) else "FILE" if base is Path
                                else "ACTION=N" if name == "rate_limit" else name.upper())


_readable_metavars(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and exit 1 (traceback with SGPLAN_DEBUG=1)."""
    from sgplan.cachestore import background_writes
    from sgplan.cli.workflow import COMMAND_LINE, ConfigErrors

    args = sys.argv[1:] if argv is None else list(argv)
    COMMAND_LINE.set(tuple(args))
    try:
        # Not standalone: click would exit 2 on a usage error, the code that means "changes
        # present" under --detailed-exitcode (DESIGN §5: nothing else ever exits 2).
        with background_writes():  # cache entries are written by a forked child (cachestore)
            code = app(args=args, standalone_mode=False, prog_name="sgplan")
    except ClickException as exc:
        if isinstance(exc, NoArgsIsHelpError):
            print("error: no command given (the help above lists them)", file=sys.stderr)
        else:
            print(f"error: {visible(_one_line(exc.format_message()))}", file=sys.stderr)
        sys.exit(1)
    except Abort:
        print("error: aborted", file=sys.stderr)
        sys.exit(1)
    except ConfigErrors:
        sys.exit(1)
    except (UserError, CloudError) as exc:
        if os.environ.get("SGPLAN_DEBUG") == "1":
            raise
        message = str(exc)
        if isinstance(exc, CloudError):
            message = f"cloud error {exc.code}: {exc.message}" + (f" (request {exc.request_id})" if exc.request_id else "")
        print(f"error: {visible(message)}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # a bug: say so in one line unless debugging
        if os.environ.get("SGPLAN_DEBUG") == "1":
            raise
        print(f"error: internal error: {type(exc).__name__}: {visible(exc)} (set SGPLAN_DEBUG=1 for a traceback)",
              file=sys.stderr)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _one_line(message: str) -> str:
    return " ".join(message.split())
