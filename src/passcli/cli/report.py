"""`passcli report message|journey NAME` (SPEC §10): a table, `--json`, `--format csv`, and
`--html FILE` for a self-contained page with charts (written besides what stdout shows)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Group
from rich.text import Text

from passcli.cli.context import JsonOption, NowOption, ProjectOption, make_env
from passcli.cli.output import out, print_json, say, table
from passcli.errors import UsageError

if TYPE_CHECKING:
    from passcli.reports.outcomes import Outcomes

app = typer.Typer(
    help="Reports: what a message or a journey did, and what followed.", no_args_is_help=True
)

FormatOption = Annotated[
    str,
    typer.Option(
        "--format",
        metavar="table|csv",
        help="table (default) or csv, on stdout.",
        show_default=False,
    ),
]
HtmlOption = Annotated[
    Path | None,
    typer.Option(
        "--html",
        metavar="FILE",
        help="Also write the report as a self-contained HTML page with charts to FILE.",
        show_default=False,
        dir_okay=False,
    ),
]


def _check_format(value: str, json: bool) -> None:
    if value not in ("table", "csv"):
        raise UsageError(f"--format takes table or csv, not {value!r}")
    if json and value == "csv":
        raise UsageError("give --json or --format csv, not both")


def _write_html(path: Path, page: str) -> None:
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    say(f"wrote {path}")


@app.command("message")
def message(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The message's name.")],
    format: FormatOption = "table",
    html: HtmlOption = None,
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """Per occurrence of a message: audience, sent, failed, skipped by reason, unsubscribes
    that followed, conversions and the conversion rate."""
    from passcli.reports.csv import message_csv
    from passcli.reports.documents import message_document
    from passcli.reports.message import message_report
    from passcli.store import read_transaction

    _check_format(format, json)
    env = make_env(ctx, project, now, json)
    messages = env.project().messages
    with read_transaction(env.engine) as conn:
        report = message_report(conn, messages, name, env.now, env.settings.tz)
    if html is not None:
        from passcli.reports.html import message_html

        _write_html(html, message_html(report, env.settings.tz))
    if json:
        print_json(message_document(report))
        return
    if format == "csv":
        typer.echo(message_csv(report), nl=False)
        return
    rows = [
        [_label(row.occurrence, row.kind, row.status), *_outcome_cells(row.outcomes)]
        for row in report.occurrences
    ]
    rows.append(["total", *_outcome_cells(report.total)])
    title = f"{report.message}: {report.title}" if report.title else report.message
    parts: list[Any] = [Text(title, style="bold"), Text(_conversion_line(report.conversion))]
    parts += [table(None, ["occurrence", *OUTCOME_HEADERS], rows), Text(_totals(report.total))]
    out.print(Group(*parts))


@app.command("journey")
def journey(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The journey's name.")],
    format: FormatOption = "table",
    html: HtmlOption = None,
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """The funnel of a journey per step: reached, waiting, sent, skipped by reason, timed
    out, unsubscribed, converted; and entered, done and exited for the journey."""
    from passcli.reports.csv import journey_csv
    from passcli.reports.documents import journey_document
    from passcli.reports.journey import journey_report
    from passcli.store import read_transaction

    _check_format(format, json)
    env = make_env(ctx, project, now, json)
    journeys = env.project().journeys
    with read_transaction(env.engine) as conn:
        report = journey_report(conn, journeys, name, env.now, env.settings.tz)
    if html is not None:
        from passcli.reports.html import journey_html

        _write_html(html, journey_html(report, env.settings.tz))
    if json:
        print_json(journey_document(report))
        return
    if format == "csv":
        typer.echo(journey_csv(report), nl=False)
        return
    rows = [
        [
            f.step,
            f.kind + (f" {f.message}" if f.message else ""),
            f.reached,
            f.waiting,
            sum(f.sent.values()),
            f.failed,
            ", ".join(f"{r} {c}" for r, c in sorted(f.skipped.items())) or 0,
            f.timed_out,
            f.unsubscribes,
            f.converted,
        ]
        for f in report.steps
    ]
    columns = ["step", "does", "reached", "waiting", "sent", "failed", "skipped", "timed out"]
    columns += ["unsubscribed", "converted"]
    title = f"{report.journey}: {report.title}" if report.title else report.journey
    rate = report.conversion_rate
    ends = ", ".join(
        f"{reason} {count}" for reason, count in sorted((report.done + report.exited).items())
    )
    summary = (
        f"entered {report.entered} ({report.customers} customers), active {report.active}, "
        f"ended: {ends or 'none'}; converted {report.converted}"
        + (f" ({rate:.1%})" if rate is not None else "")
    )
    out.print(Group(Text(title, style="bold"), Text(summary), table(None, columns, rows)))


OUTCOME_HEADERS = ["audience", "sent", "failed", "skipped", "unsubscribed", "converted"]


def _label(occurrence: str, kind: str, status: str) -> str:
    """The occurrence, marked when it is a manual send or not done."""
    notes = [
        n for n in (kind if kind != "scheduled" else "", status if status != "done" else "") if n
    ]
    return f"{occurrence} ({', '.join(notes)})" if notes else occurrence


def _outcome_cells(o: Outcomes) -> list[Any]:
    rate = o.conversion_rate
    converted: Any = "" if o.conversions is None else o.conversions
    if rate is not None:
        converted = f"{o.conversions} ({rate:.1%})"
    failed: Any = o.failed if not o.pending else f"{o.failed} (+{o.pending} pending)"
    return [
        o.audience,
        o.sent_total,
        failed,
        sum(o.skipped.values()),
        sum(o.unsubscribes.values()),
        converted,
    ]


def _totals(o: Outcomes) -> str:
    """The totals' detail: sends by channel, skips by reason, unsubscribes by channel."""
    sent = ", ".join(f"{channel} {count}" for channel, count in sorted(o.sent.items()))
    skipped = ", ".join(f"{reason} {count}" for reason, count in sorted(o.skipped.items()))
    unsubs = ", ".join(f"{channel} {count}" for channel, count in sorted(o.unsubscribes.items()))
    lines = [f"sent: {sent}", f"skipped: {skipped or 'none'}", f"unsubscribed: {unsubs}"]
    if o.held:
        lines.append(f"held: {o.held}")
    return "\n".join(lines)


def _conversion_line(conversion: Any) -> str:
    if conversion is None:
        return "no conversion defined (add conversion: to the message to count them)"
    seconds = conversion.within.total
    span = f"{seconds // 86400} days" if seconds % 86400 == 0 else f"{seconds} seconds"
    return f"converts on {conversion.event.name} within {span} after delivery"
