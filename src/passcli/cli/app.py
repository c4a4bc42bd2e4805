"""The `passcli` command: sub-apps per group, and the one place errors become exit codes."""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from passcli.cli import (
    customer,
    db,
    group,
    imports,
    journey,
    message,
    offer,
    project,
    report,
    schedule,
    segment,
    serve,
    sms,
)
from passcli.cli.context import Globals, NowOption, ProjectOption
from passcli.cli.output import error
from passcli.errors import InvalidProjectError, PasscliError


class PasscliGroup(TyperGroup):
    """Turns every error into one sentence on stderr and an exit code (SPEC §5).

    PasscliError subclasses carry their own exit code; anything unexpected exits 1 with its
    type and message, never a traceback (PASSCLI_DEBUG=1 re-raises, like alembic's --raiseerr).
    """

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except InvalidProjectError as exc:
            for diagnostic in exc.diagnostics:
                typer.echo(str(diagnostic), err=True)
            error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except PasscliError as exc:
            if os.environ.get("PASSCLI_DEBUG"):
                raise
            error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except BrokenPipeError:
            # The reader went away (`passcli ... | head`): stop quietly, as other tools do.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            error("interrupted")
            raise typer.Exit(130) from None
        except Exception as exc:
            if os.environ.get("PASSCLI_DEBUG"):
                raise
            error(f"unexpected {type(exc).__name__}: {exc} (set PASSCLI_DEBUG=1 for the traceback)")
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=PasscliGroup,
    name="passcli",
    help="Campaigns as code: segments and messages in YAML, customers in a SQL store.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _globals(ctx: typer.Context, project: ProjectOption = None, now: NowOption = None) -> None:
    """Campaigns as code: segments and messages in YAML, customers in a SQL store."""
    ctx.obj = Globals(project=project, now=now)


project.register(app)
imports.register(app)
segment.register(app)
message.register(app)
schedule.register(app)
serve.register(app)
app.add_typer(customer.app, name="customer")
app.add_typer(db.app, name="db")
app.add_typer(group.app, name="group")
app.add_typer(sms.app, name="sms")
app.add_typer(offer.app, name="offer")
app.add_typer(journey.app, name="journey")
app.add_typer(report.app, name="report")


def main() -> None:
    """Console-script entry point."""
    sys.exit(app(prog_name="passcli"))
