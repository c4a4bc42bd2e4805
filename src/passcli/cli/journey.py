"""`passcli journey list|show|preview|exit` (SPEC §7); --json shapes in docs/journeys.md."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from passcli.cli.context import JsonOption, NowOption, ProjectOption, make_env
from passcli.cli.output import out, print_json, say, table

app = typer.Typer(
    help="Journeys of journeys.yaml: where customers are in them.", no_args_is_help=True
)

NameArgument = Annotated[str, typer.Argument(help="The journey's name.")]
CustomerOption = Annotated[
    str, typer.Option("--customer", metavar="ID", help="The customer's id.", show_default=False)
]


@app.command("list")
def list_journeys(
    ctx: typer.Context,
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """Each journey with its entry, steps and how many customers are in it."""
    from passcli.journeys.status import journey_summary
    from passcli.store import read_transaction

    env = make_env(ctx, project, now, json)
    journeys = env.project().journeys
    with read_transaction(env.engine) as conn:
        summaries = [journey_summary(conn, j) for j in journeys.values()]
    if json:
        print_json({"journeys": [{k: v for k, v in s.items() if k != "steps"} for s in summaries]})
        return
    if not summaries:
        say("journeys.yaml declares no journeys")
        return
    rows: list[list[Any]] = [
        [s["journey"], s["title"] or "", s["entered"], s["active"], s["done"], s["exited"],
         s["converted"]]
        for s in summaries
    ]  # fmt: skip
    out.print(
        table(None, ["journey", "title", "entered", "active", "done", "exited", "converted"], rows)
    )


@app.command("show")
def show(
    ctx: typer.Context,
    name: NameArgument,
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """Per step: entered, waiting, done, sent, skipped, timed out, converted."""
    from passcli.journeys.status import find_journey, journey_summary
    from passcli.store import read_transaction

    env = make_env(ctx, project, now, json)
    journey = find_journey(env.project(), name)
    with read_transaction(env.engine) as conn:
        summary = journey_summary(conn, journey)
    if json:
        print_json(summary)
        return
    keys = ["step", "kind", "entered", "waiting", "done", "sent", "skipped", "timed_out",
            "converted"]  # fmt: skip
    out.print(table(name, keys, [[s[k] for k in keys] for s in summary["steps"]]))


@app.command("preview")
def preview(
    ctx: typer.Context,
    name: NameArgument,
    customer: CustomerOption,
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """The path this customer would take if they entered now, and where it would stop."""
    from passcli.journeys.status import find_journey, preview_path
    from passcli.store import read_transaction

    env = make_env(ctx, project, now, json)
    loaded = env.project()
    journey = find_journey(loaded, name)
    with read_transaction(env.engine) as conn:
        path = preview_path(conn, loaded, journey, customer, env.now, env.settings.tz)
    if json:
        print_json(path)
        return
    rows = [
        [s["step"], s["kind"], s.get("message") or s.get("goes_to") or "",
         s.get("channel") or s.get("skip") or ""]
        for s in path["steps"]
    ]  # fmt: skip
    out.print(table(name, ["step", "kind", "what", "channel / skip"], rows))
    say(f"stops at: {path['stops_at']}")


@app.command("exit")
def exit_command(
    ctx: typer.Context,
    name: NameArgument,
    customer: CustomerOption,
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """Take a customer out of a journey now (recorded exited, end_reason manual)."""
    from passcli.journeys.status import exit_customer, find_journey
    from passcli.store import write_transaction

    env = make_env(ctx, project, now, json)
    journey = find_journey(env.project(), name)
    with write_transaction(env.engine) as conn:
        exited = exit_customer(conn, journey, customer, env.now)
    if json:
        print_json({"journey": name, "customer_id": customer, "exited": exited})
        return
    say(f"{customer} exited {name}" if exited else f"{customer} is not in {name} now")
