"""`passcli import KIND FILE`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

from passcli.cli.context import JsonOption, NowOption, ProjectOption, make_env
from passcli.cli.output import err, print_json, say
from passcli.importing.kinds import KINDS

if TYPE_CHECKING:
    from passcli.importing.report import ImportReport


def register(app: typer.Typer) -> None:
    app.command("import")(import_command)


def import_command(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help=f"What the file holds: {', '.join(KINDS)}.")],
    file: Annotated[Path, typer.Argument(help="A .csv, .jsonl or .ndjson file.")],
    format: Annotated[
        str | None, typer.Option("--format", help="csv or jsonl, when the extension says neither.")
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Load nothing when any row is bad.")
    ] = False,
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """Import customers, items, purchases, redemptions, events or bounces; upserts by id.

    A bad row is reported as FILE:LINE: reason and the others still load (unless --strict);
    the exit status is 1 when any row was rejected.
    """
    from passcli.importing.load import import_file

    env = make_env(ctx, project, now, json)
    settings = env.settings
    if err.is_terminal and not json:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task(f"importing {file.name}", total=None)
            report = import_file(
                env.engine,
                kind,
                file,
                fmt=format,
                strict=strict,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                tz=settings.tz,
                region=settings.default_region,
                now=env.now,
            )
    else:
        report = import_file(
            env.engine,
            kind,
            file,
            fmt=format,
            strict=strict,
            tz=settings.tz,
            region=settings.default_region,
            now=env.now,
        )
    _show(report, json)
    if report.rejected:
        raise typer.Exit(1)


def _show(report: ImportReport, json: bool) -> None:
    if json:
        print_json(report.to_json())
        return
    for rejection in report.rejections:
        sys.stderr.write(f"{report.file}:{rejection.line}: {rejection.reason}\n")
    hidden = report.rejected - len(report.rejections)
    if hidden:
        sys.stderr.write(f"{report.file}: ... and {hidden} more rejected rows\n")
    for line, email in report.unmatched:  # bounces: not errors, but worth a look
        sys.stderr.write(
            f"{report.file}:{line}: no customer has the email {email}: nothing changed\n"
        )
    say(report.summary)
