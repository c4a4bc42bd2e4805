"""`passcli validate` and `passcli segment list|preview|export|diff|sync`."""

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

app = typer.Typer(
    help="Look at segments: sizes, members, exports, changes; sync them as audiences.",
    no_args_is_help=True,
)

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


@app.command("diff")
def diff(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The segment's name.")],
    limit: Annotated[
        int | None, typer.Option("--limit", min=0, help="List at most N changes.")
    ] = None,
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """Who entered and who left the segment since its last sync; changes nothing."""
    from itertools import islice

    from passcli.delivery.spool import Spool
    from passcli.segments.snapshots import diff as segment_diff
    from passcli.store import read_transaction

    env = make_env(ctx, project, now, json)
    spec = env.project()
    with read_transaction(env.engine) as conn:
        found = segment_diff(conn, spec.segments, name, env.now, env.settings.tz)
    log = found.changes
    try:
        if json:
            listed = Spool()
            for change in islice(log, limit):
                listed.append({"customer_id": change.customer_id, "change": change.change})
            print_json(
                {
                    "segment": name,
                    "at": env.now,
                    "since": found.since,
                    "syncs": found.before.generation,
                    "snapshot": found.before.members,
                    "members": found.members,
                    "entered": log.entered,
                    "exited": log.exited,
                    "changes": listed,
                }
            )
            listed.close()
            return
        since = (
            f"since the sync at {iso_utc(found.since)}"
            if found.since is not None
            else "never synced: every member entered"
        )
        out.print(f"{name}: {log.entered} entered, {log.exited} exited, {since}")
        shown = log.head(limit if limit is not None else PREVIEW_ROWS)
        if shown:
            rows = [[c.change, c.customer_id] for c in shown]
            out.print(table(None, ["change", "customer"], rows))
        if len(log) > len(shown):
            out.print(f"... and {len(log) - len(shown)} more (--limit N, or --json)")
    finally:
        log.close()


@app.command("sync")
def sync(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The segment's name.")],
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="A .jsonl file to append the events to, or an http(s) URL to POST them to "
            'as {"batch": [...]} (Segment\'s /v1/batch).',
            show_default=False,
        ),
    ],
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """Send the segment's changes since its last sync as Audience Entered / Audience Exited
    track events (every member the first time), then advance its snapshot."""
    from passcli.segments.destinations import destination_for
    from passcli.segments.sync import sync_segment

    env = make_env(ctx, project, now, json)
    key = env.settings.segment_write_key
    destination = destination_for(to, key.get_secret_value() if key else None)
    spec = env.project()
    report = sync_segment(env.engine, spec.segments, name, env.now, env.settings.tz, destination)
    if json:
        print_json(
            {
                "segment": report.segment,
                "at": report.at,
                "to": report.to,
                "since": report.since,
                "first": report.first,
                "sync": report.sync,
                "entered": report.entered,
                "exited": report.exited,
                "events": report.events,
                "requests": report.requests,
                "members": report.members,
            }
        )
        return
    batches = f" in {report.requests} request{'s' if report.requests != 1 else ''}"
    say(
        f"synced {name} to {report.to}: {report.entered} entered, {report.exited} exited "
        f"({report.events} event{'s' if report.events != 1 else ''}"
        f"{batches if report.requests else ''}); sync {report.sync}, "
        f"{report.members} member{'s' if report.members != 1 else ''} in the snapshot"
    )
