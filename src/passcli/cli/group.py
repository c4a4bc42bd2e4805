"""`passcli group list|show|add|remove` (groups.yaml, SPEC §8)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from passcli.cli.context import JsonOption, NowOption, ProjectOption, make_env
from passcli.cli.output import out, print_json, say, table
from passcli.errors import UsageError

app = typer.Typer(help="Groups: list them, see and change their members.", no_args_is_help=True)

SHOW_ROWS = 20


@app.command("list")
def list_groups(
    ctx: typer.Context,
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """Each group of groups.yaml with its kind and its number of members now."""
    from passcli.groups.members import group_summaries
    from passcli.store import read_transaction

    env = make_env(ctx, project, now, json)
    spec = env.project()
    with read_transaction(env.engine) as conn:
        summaries = group_summaries(conn, spec.groups, env.now, env.settings.tz)
    if json:
        print_json(
            {
                "at": env.now,
                "groups": [
                    {
                        "name": s.name,
                        "kind": s.kind,
                        "description": s.description,
                        "members": s.members,
                        "pending": s.pending,
                    }
                    for s in summaries
                ],
            }
        )
        return
    if not summaries:
        say("no groups (declare them in groups.yaml)")
        return
    rows: list[list[Any]] = [
        [s.name, s.kind, s.members, s.pending, s.detail, s.description or ""] for s in summaries
    ]
    out.print(table(None, ["group", "kind", "members", "pending", "how", "description"], rows))


@app.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The group's name.")],
    limit: Annotated[
        int | None, typer.Option("--limit", min=0, help="Show at most N members.")
    ] = None,
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """The group's members now, and the addresses waiting for a customer."""
    from passcli.groups.members import count_members, find_group, list_members, list_pending
    from passcli.store import read_transaction

    env = make_env(ctx, project, now, json)
    spec = env.project()
    group = find_group(spec.groups, name)
    tz = env.settings.tz
    shown = limit if limit is not None or json else SHOW_ROWS
    with read_transaction(env.engine) as conn:
        size = count_members(conn, spec.groups, name, env.now, tz)
        members = list(list_members(conn, spec.groups, name, env.now, tz, shown))
        pending = list_pending(conn, name)
    if json:
        print_json(
            {
                "group": name,
                "kind": group.kind,
                "at": env.now,
                "count": size,
                "members": members,
                "pending": pending,
            }
        )
        return
    say(f"{name} ({group.kind}): {size} member{'s' if size != 1 else ''}, {len(pending)} pending")
    columns = ["id", "email", "phone", "first_name", "last_name", "added_at", "source"]
    out.print(table(None, columns, [[m[c] for c in columns] for m in members]))
    if size > len(members):
        say(f"... and {size - len(members)} more (--limit N, or --json for all)")
    if pending:
        out.print(
            table(
                "pending (no customer with this address yet)",
                ["address", "source", "added_at"],
                [[p["address"], p["source"], p["added_at"]] for p in pending],
            )
        )


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The group's name.")],
    addresses: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="EMAIL_OR_PHONE...", help="Emails or phone numbers.", show_default=False
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="A file of emails or phones, one a line, or a CSV with an email or phone column.",
        ),
    ] = None,
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """Add people to a manual or subscription group by email or phone; an address that no
    customer has yet is kept and matched when such a customer is imported. A --file is a
    list, one address a line, or a CSV with an email (or phone) column."""
    from passcli.groups.addresses import read_addresses
    from passcli.groups.members import add_members
    from passcli.store import write_transaction

    env = make_env(ctx, project, now, json)
    spec = env.project()
    region = env.settings.default_region
    from_file = read_addresses(file, region) if file is not None else []
    if not addresses and not from_file:
        given = f"{file} holds no address" if file is not None else "no address given"
        raise UsageError(f"{given}: give at least one email or phone, or --file FILE")
    with write_transaction(env.engine) as conn:
        # One transaction: a bad address on the command line adds nobody from the file
        # either (the file's were checked as it was read).
        report = add_members(conn, spec.groups, name, addresses or [], region=region, now=env.now)
        if from_file:
            report.merge(
                add_members(
                    conn, spec.groups, name, from_file, region=region, now=env.now, source="file"
                )
            )
    if json:
        print_json(report.to_json())
        return
    say(
        f"{name}: added {len(report.added)} customer{'s' if len(report.added) != 1 else ''}, "
        f"{len(report.pending)} pending (no customer yet), {len(report.already)} already in"
    )


@app.command("remove")
def remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The group's name.")],
    who: Annotated[
        list[str],
        typer.Argument(metavar="ID_EMAIL_OR_PHONE...", help="Customer ids, emails or phones."),
    ],
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """Remove people from a manual or subscription group (membership groups follow their
    purchases and cannot be changed by hand)."""
    from passcli.groups.members import remove_members
    from passcli.store import write_transaction

    env = make_env(ctx, project, now, json)
    spec = env.project()
    with write_transaction(env.engine) as conn:
        report = remove_members(conn, spec.groups, name, who, region=env.settings.default_region)
    if json:
        print_json(report.to_json())
        return
    say(f"{name}: removed {len(report.removed)}, not members {len(report.not_members)}")
