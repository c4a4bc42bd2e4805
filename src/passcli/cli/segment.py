"""`passcli validate` and `passcli segment list|preview|export`."""

from __future__ import annotations

import csv
import io
import os
import sys
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import orjson
import typer

from passcli.cli.context import JsonOption, NowOption, ProjectOption, make_env
from passcli.cli.output import out, print_json, say, table
from passcli.errors import UsageError
from passcli.timeutil import iso_utc

if TYPE_CHECKING:
    pass

# The export's columns (segments.evaluate.MEMBER_COLUMNS, named here to keep start-up light).
MEMBER_COLUMNS = ("id", "email", "phone", "first_name", "last_name")

app = typer.Typer(help="Look at segments: sizes, members, exports.", no_args_is_help=True)

PREVIEW_ROWS = 20


def register(root: typer.Typer) -> None:
    root.command("validate")(validate)
    root.add_typer(app, name="segment")


def validate(
    ctx: typer.Context,
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """Check every project file; print every problem as FILE:LINE:COLUMN: message."""
    from passcli.project import load_project
    from passcli.segments.evaluate import known_items
    from passcli.store import read_transaction

    env = make_env(ctx, project, now, json)
    with read_transaction(env.engine) as conn:
        items = known_items(conn)
    loaded, diagnostics = load_project(env.settings.project_dir, items)
    if json:
        print_json(
            {
                "valid": not diagnostics,
                "problems": [
                    {"file": d.file, "line": d.line, "column": d.column, "message": d.message}
                    for d in diagnostics
                ],
            }
        )
    else:
        for diagnostic in diagnostics:
            typer.echo(str(diagnostic), err=True)
        if not diagnostics:
            say(f"ok: {len(loaded.segments)} segments, {len(loaded.messages)} messages")
        else:
            say(f"{len(diagnostics)} problem{'s' if len(diagnostics) != 1 else ''}")
    if diagnostics:
        raise typer.Exit(2)


@app.command("list")
def list_segments(
    ctx: typer.Context,
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """Each segment with its description and its size now."""
    from passcli.segments.evaluate import count, member_ids
    from passcli.store import read_transaction

    env = make_env(ctx, project, now, json)
    spec = env.project()
    tz = env.settings.tz
    with read_transaction(env.engine) as conn:
        sizes = {
            name: count(conn, member_ids(spec.segments, name, env.now, tz))
            for name in spec.segments
        }
    if json:
        print_json(
            {
                "at": env.now,
                "segments": [
                    {"name": name, "description": seg.description, "count": sizes[name]}
                    for name, seg in spec.segments.items()
                ],
            }
        )
        return
    rows: list[list[Any]] = [
        [name, sizes[name], seg.description or ""] for name, seg in spec.segments.items()
    ]
    out.print(table(None, ["segment", "size", "description"], rows))


@app.command("preview")
def preview(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The segment's name.")],
    limit: Annotated[
        int | None, typer.Option("--limit", min=0, help="Show at most N members.")
    ] = None,
    sql: Annotated[bool, typer.Option("--sql", help="Print the compiled query.")] = False,
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """The segment's size now and a table of its members."""
    from passcli.segments.evaluate import count, member_ids, members_query, stream
    from passcli.store import read_transaction

    env = make_env(ctx, project, now, json)
    spec = env.project()
    ids = member_ids(spec.segments, name, env.now, env.settings.tz)
    shown = limit if limit is not None or json else PREVIEW_ROWS
    with read_transaction(env.engine) as conn:
        size = count(conn, ids)
        members = list(stream(conn, members_query(ids, shown)))
    if json:
        print_json({"segment": name, "at": env.now, "count": size, "customers": members})
        return
    if sql:
        compiled = ids.compile(dialect=env.engine.dialect, compile_kwargs={"literal_binds": True})
        out.print(str(compiled), highlight=False)
        out.print()
    out.print(f"{name}: {size} member{'s' if size != 1 else ''} at {iso_utc(env.now)}")
    rows = [[m[c] for c in MEMBER_COLUMNS] for m in members]
    out.print(table(None, list(MEMBER_COLUMNS), rows))
    if size > len(members):
        out.print(f"... and {size - len(members)} more (--limit N, or segment export)")


@app.command("export")
def export(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The segment's name.")],
    format: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "csv",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    project: ProjectOption = None,
    now: NowOption = None,
) -> None:
    """Every member: id,email,phone,first_name,last_name, as CSV or JSON Lines."""
    from passcli.segments.evaluate import member_ids, members_query, raw_rows
    from passcli.store import read_transaction

    if format not in ("csv", "jsonl"):
        raise UsageError(f"--format must be csv or jsonl, not {format!r}")
    env = make_env(ctx, project, now)
    spec = env.project()
    query = members_query(member_ids(spec.segments, name, env.now, env.settings.tz))
    with read_transaction(env.engine) as conn:
        rows = raw_rows(conn, query)
        if output is None:
            written = _write(sys.stdout.buffer, rows, format)
            sys.stdout.flush()
        else:
            written = _write_atomically(output, rows, format)
    if output is not None:
        say(f"wrote {written} members of {name} to {output}")


def _write(handle: IO[bytes], rows: Any, format: str) -> int:
    """Members (tuples in MEMBER_COLUMNS order) as CSV or JSON Lines, as UTF-8 bytes."""
    written = 0
    if format == "csv":
        text = io.TextIOWrapper(handle, encoding="utf-8", newline="", write_through=True)
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(MEMBER_COLUMNS)
        for row in rows:
            writer.writerow(row)
            written += 1
        text.detach()
    else:
        dumps = orjson.dumps
        for row in rows:
            handle.write(dumps(dict(zip(MEMBER_COLUMNS, row, strict=True))) + b"\n")
            written += 1
    return written


def _write_atomically(path: Path, rows: Any, format: str) -> int:
    """Write to a temporary file beside `path`, then rename: never a half-written export."""
    folder = path.resolve().parent
    if not folder.is_dir():
        raise UsageError(f"cannot write {path}: folder {folder} does not exist")
    fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            written = _write(handle, rows, format)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise
    return written
