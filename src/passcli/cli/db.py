"""`passcli db copy --to URL`."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from passcli.cli.context import JsonOption, NowOption, ProjectOption, make_env
from passcli.cli.output import err, out, print_json, say, table
from passcli.errors import UsageError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from passcli.store.copy import CopyReport

app = typer.Typer(help="Work on the store as a whole.", no_args_is_help=True)


@app.command("copy")
def copy_command(
    ctx: typer.Context,
    to: Annotated[
        str,
        typer.Option(
            "--to",
            metavar="URL",
            help="The SQLAlchemy URL of an empty store, such as "
            "postgresql+psycopg://USER:PASSWORD@HOST/DB or sqlite:///other.db.",
            show_default=False,
        ),
    ],
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """Copy this project's store into an empty store at URL, such as PostgreSQL.

    Every table with its ids, in one transaction on the target, and the rows
    of each table counted on both sides before it commits: on any failure the
    target stays empty. The target is migrated first; it must hold no rows.
    """
    from passcli.store.copy import copy_store

    env = make_env(ctx, project, now, json)
    target = _open_target(to)
    try:
        started = time.perf_counter()
        if err.is_terminal and not json:
            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err,
                transient=True,
            ) as bar:
                task = bar.add_task("copying", total=None)

                def show(name: str, done: int, total: int) -> None:
                    bar.update(task, description=f"copying {name}", completed=done, total=total)

                report = copy_store(env.engine, target, progress=show)
        else:
            report = copy_store(env.engine, target)
        seconds = time.perf_counter() - started
    finally:
        target.dispose()
    _show(report, seconds, json)


def _open_target(url: str) -> Engine:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from passcli.store import make_engine

    try:
        make_url(url)
    except ArgumentError:
        # Not echoed: a mistyped URL may still hold a password.
        raise UsageError(
            "--to is not a database URL (expected, e.g., postgresql+psycopg://USER@HOST/DB)"
        ) from None
    return make_engine(url)


def _show(report: CopyReport, seconds: float, json: bool) -> None:
    if json:
        document = {"from": report.source, "to": report.target, "tables": report.tables}
        print_json({**document, "rows": report.rows})
        return
    rows: list[list[Any]] = [[name, f"{count:,}"] for name, count in report.tables.items()]
    out.print(table(None, ["table", "rows"], rows))
    say(
        f"copied {report.rows:,} rows from {report.source} to {report.target} "
        f"in {seconds:.1f} s; counts match"
    )
