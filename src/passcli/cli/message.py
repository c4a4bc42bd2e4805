"""`passcli message list|preview|test`, `passcli send`, `passcli log`, `passcli unsubscribe`."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn

from passcli.cli.context import (
    Env,
    JsonOption,
    NowOption,
    ProjectOption,
    WorkersOption,
    make_env,
    wall_clock,
)
from passcli.cli.output import err, out, print_json, say, table
from passcli.errors import UsageError

if TYPE_CHECKING:
    from passcli.delivery.dispatch import SendReport
    from passcli.project import Project

app = typer.Typer(
    help="Look at messages: list them, preview one for a customer, test-send one to the seed list.",
    no_args_is_help=True,
)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="message")
    root.command("send")(send)
    root.command("log")(log)
    root.command("unsubscribe")(unsubscribe)


def _message_names(env: Env) -> set[str]:
    """Messages of messages.yaml, valid or not (a removed message still has a history), and
    `sms-reply`, the name keyword replies carry."""
    from passcli.project import load_project
    from passcli.sms.inbound import REPLY_MESSAGE

    project, _ = load_project(env.settings.project_dir)
    return {*project.messages, REPLY_MESSAGE}


def _schedule_text(spec: Any) -> str:
    schedule = spec.schedule
    if schedule is None:
        return "manual (passcli send)"
    if schedule.at is not None:
        return f"once at {schedule.at:%Y-%m-%d %H:%M}"
    text = f"every {schedule.every} from {schedule.start:%Y-%m-%d %H:%M}"
    if schedule.resends is not None:
        text += f", {schedule.resends} resends"
    return text + (" (local time)" if schedule.local_time else "")


@app.command("list")
def list_messages(
    ctx: typer.Context,
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """Each message: title, channel, segments and schedule."""
    env = make_env(ctx, project, now, json)
    spec = env.project()
    if json:
        print_json(
            {
                "messages": [
                    {
                        "name": name,
                        "title": m.title,
                        "channel": m.channel,
                        "segments": m.segments,
                        "exclude": m.exclude,
                        "once_per_customer": m.once_per_customer,
                        "schedule": _schedule_text(m),
                    }
                    for name, m in spec.messages.items()
                ]
            }
        )
        return
    rows: list[list[Any]] = [
        [name, m.title or "", m.channel, ", ".join(m.segments), _schedule_text(m)]
        for name, m in spec.messages.items()
    ]
    out.print(table(None, ["message", "title", "channel", "segments", "schedule"], rows))


@app.command("preview")
def preview(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The message's name.")],
    customer: Annotated[str, typer.Option("--customer", help="The customer's id.")],
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """The message rendered for one customer, and what a send now would do with them."""
    from passcli.messages.preview import preview_message
    from passcli.store import read_transaction

    env = make_env(ctx, project, now, json)
    spec = env.project()
    message = spec.messages.get(name)
    if message is None:
        raise UsageError(f"unknown message {name!r}")
    with read_transaction(env.engine) as conn:
        result = preview_message(
            conn, spec.segments, name, message, customer, env.branding, env.now, env.settings.tz
        )
    if json:
        print_json(result.to_json())
        return
    out.print(f"{name} for {customer} by {result.channel} to {result.to or '(no address)'}")
    if result.subject is not None:
        out.print(f"Subject: {result.subject}")
    out.print()
    out.print(result.body, highlight=False, markup=False)
    out.print()
    if result.sms is not None:
        out.print(str(result.sms))
    if result.skip_reason:
        out.print(f"A send now would not reach them: {result.skip_reason}.")
    if not result.signed:
        out.print("The unsubscribe link is not signed: set PASSCLI_SECRET_KEY to send.")


@app.command("test")
def message_test(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The message's name.")],
    customer: Annotated[
        str | None,
        typer.Option(
            "--customer",
            help="Render it for this customer (default: the first member of its audience).",
        ),
    ] = None,
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """Send the message, rendered for one real customer, to policy.yaml's seed_list.

    Marked [TEST]; email seeds get the email, phone seeds the SMS, as the
    message's channel allows. Never counted as the customer's: once_per_customer,
    frequency caps and quiet hours do not apply, and its unsubscribe link changes
    nothing. Exit 1 when a delivery failed.
    """
    from passcli.delivery.testsend import send_test

    env = make_env(ctx, project, now, json)
    report = send_test(
        env.engine,
        env.project(),
        name,
        customer_id=customer,
        now=env.now,
        tz=env.settings.tz,
        branding=env.branding,
        transports=env.transports(),
        wall_clock=wall_clock,
        sleep=time.sleep,
    )
    if json:
        print_json(report.to_json())
    else:
        rows: list[list[Any]] = [
            [r.to, r.channel, r.status, r.error or ""] for r in report.recipients
        ]
        out.print(table(None, ["to", "channel", "status", "error"], rows))
        say(
            f"{name} for {report.customer_id}: test sent {report.sent}, failed {report.failed}, "
            f"skipped {report.skipped}"
        )
    if report.failed:
        raise typer.Exit(1)


def send(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The message's name.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show who would get it; send and record nothing.")
    ] = False,
    limit: Annotated[
        int | None, typer.Option("--limit", min=0, help="At most N recipients, by customer id.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    workers: WorkersOption = 1,
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """Send one occurrence of a message now, to its segments' members.

    Asks before a real send on a terminal; without a terminal, --yes is required.
    Exit 1 when a delivery failed.
    """
    env = make_env(ctx, project, now, json)
    spec = env.project()
    if name not in spec.messages:
        raise UsageError(f"unknown message {name!r}")
    if not dry_run and not yes:
        if not sys.stdin.isatty():
            raise UsageError("a real send without a terminal needs --yes")
        if not typer.confirm(f"Send {name} to its audience now?", err=True):
            raise typer.Exit(1)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        console=err,
        transient=True,
        disable=not err.is_terminal or json,
    ) as bar:
        task = bar.add_task(f"sending {name}", total=None)
        report = send_with_settings(
            env,
            spec,
            name,
            dry_run,
            limit,
            progress=lambda done: bar.update(task, description=f"{name}: {done} processed"),
            workers=workers,
        )
    show_report(report, json)
    if report.failed:
        raise typer.Exit(1)


def send_with_settings(
    env: Env,
    project: Project,
    name: str,
    dry_run: bool,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> SendReport:
    """`send_now` with the transports, branding and clocks the settings give."""
    from passcli.delivery.manual import send_now

    return send_now(
        env.engine,
        project,
        name,
        now=env.now,
        tz=env.settings.tz,
        branding=env.branding,
        transports=env.transports(),
        wall_clock=wall_clock,
        sleep=time.sleep,
        dry_run=dry_run,
        limit=limit,
        progress=progress,
        workers=env.workers(workers),
    )


def show_report(report: SendReport, json: bool) -> None:
    if json:
        print_json(report.to_json())
        return
    verb = "would send" if report.dry_run else "sent"
    rows: list[list[Any]] = [
        [r["customer_id"], r["channel"], r["to"], r["status"]] for r in report.recipients.head(20)
    ]
    if rows:
        out.print(table(None, ["customer", "channel", "to", "status"], rows))
        if len(report.recipients) > 20:
            out.print(f"... and {len(report.recipients) - 20} more")
    skipped = ", ".join(f"{reason} {count}" for reason, count in sorted(report.skipped.items()))
    say(
        f"{report.message}: audience {report.audience}; {verb} email {report.sent['email']}, "
        f"sms {report.sent['sms']}; failed {report.failed}; skipped {sum(report.skipped.values())}"
        + (f" ({skipped})" if skipped else "")
        + report.held_text()
    )


def log(
    ctx: typer.Context,
    message: Annotated[str | None, typer.Option("--message", help="Only this message.")] = None,
    customer: Annotated[str | None, typer.Option("--customer", help="Only this customer.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=0, help="At most N rows.")] = None,
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """Delivery history, newest first."""
    from passcli.delivery.log import LOG_COLUMNS, LOG_TABLE_COLUMNS, carrier_label, delivery_log
    from passcli.store import read_transaction

    env = make_env(ctx, project, now, json)
    with read_transaction(env.engine) as conn:
        rows = delivery_log(conn, message, customer, limit)
        if message is not None and not rows and message not in _message_names(env):
            raise UsageError(f"unknown message {message!r}")
    if customer is not None and not rows:
        from passcli.customers import load_profile

        with read_transaction(env.engine) as conn:
            load_profile(conn, customer, event_limit=0)  # NotFoundError for an unknown id
    if json:
        print_json({"deliveries": [{k: r[k] for k in LOG_COLUMNS} for r in rows]})
        return
    cells = [[*(r[k] for k in LOG_TABLE_COLUMNS[:-1]), carrier_label(r)] for r in rows]
    out.print(table(None, list(LOG_TABLE_COLUMNS), cells))


def unsubscribe(
    ctx: typer.Context,
    token: Annotated[str, typer.Argument(help="The token, or the whole unsubscribe link.")],
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """Apply a signed unsubscribe token; a forged or altered one is refused (exit 2)."""
    from passcli.delivery.unsubscribe import apply_unsubscribe, verify_token
    from passcli.store import write_transaction

    env = make_env(ctx, project, now, json)
    key = env.settings.secret_key
    if key is None:
        raise UsageError("PASSCLI_SECRET_KEY is not set: cannot check the token")
    claims = verify_token(key.get_secret_value(), token)
    if claims.from_test_send:
        if json:
            document = {"customer_id": claims.customer_id, "channel": claims.channel}
            print_json({**document, "changed": False, "test_send": True})
        else:
            say("This link came from a test send (passcli message test): nothing changed.")
        return
    with write_transaction(env.engine) as conn:
        changed = apply_unsubscribe(conn, claims, env.now)
    if json:
        print_json(
            {"customer_id": claims.customer_id, "channel": claims.channel, "changed": changed}
        )
    elif changed:
        say(f"{claims.customer_id} is unsubscribed from {claims.channel}")
    else:
        say(f"{claims.customer_id} was already unsubscribed from {claims.channel}")
