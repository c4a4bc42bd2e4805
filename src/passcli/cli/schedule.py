"""`passcli run-due`, `passcli schedule`, `passcli scheduler`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from passcli.cli.context import (
    Env,
    Globals,
    JsonOption,
    NowOption,
    ProjectOption,
    WorkersOption,
    make_env,
    wall_clock,
)
from passcli.cli.output import err, out, print_json, say, table
from passcli.errors import PasscliError


def register(root: typer.Typer) -> None:
    root.command("run-due")(run_due)
    root.command("schedule")(schedule)
    root.command("scheduler")(scheduler)


def _run(env: Env, dry_run: bool, retry_unknown: bool, limit: int | None, workers: int = 1) -> Any:
    from passcli.project import require_project
    from passcli.scheduling.run_due import RunDue

    project = require_project(env.settings.project_dir)
    runner = RunDue(
        engine=env.engine,
        project=project,
        tz=env.settings.tz,
        org_zone=env.settings.timezone,
        branding=env.branding,
        transports=env.transports(),
        wall_clock=wall_clock,
        sleep=time.sleep,
        dry_run=dry_run,
        retry_unknown=retry_unknown,
        limit=limit,
        workers=env.workers(workers),
    )
    return runner.run(env.now)


def run_due(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what is due; send and record nothing.")
    ] = False,
    retry_unknown: Annotated[
        bool,
        typer.Option(
            "--retry-unknown", help="Also resend deliveries whose outcome is unknown (a crash)."
        ),
    ] = False,
    limit: Annotated[
        int | None, typer.Option("--limit", min=0, help="At most N recipients per occurrence.")
    ] = None,
    workers: WorkersOption = 1,
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """Send every occurrence due at or before now, exactly once; for cron, every minute.

    Also delivers what other runs planned and have not finished (several hosts may run it).
    Exit 1 when a delivery failed.
    """
    env = make_env(ctx, project, now, json)
    report = _run(env, dry_run, retry_unknown, limit, workers)
    if json:
        print_json(report.to_json())
    else:
        for run in report.runs:
            skipped = ", ".join(f"{r} {n}" for r, n in sorted(run.skipped.items()))
            say(
                f"{run.message} @ {run.occurrence}"
                + (" (released after quiet hours)" if run.released else "")
                + f": audience {run.audience}, "
                f"{'would send' if run.dry_run else 'sent'} {run.sent['email']} email "
                f"{run.sent['sms']} sms, failed {run.failed}, "
                f"skipped {sum(run.skipped.values())}"
                + (f" ({skipped})" if skipped else "")
                + run.held_text()
            )
        for missed in report.missed:
            say(f"{missed['message']} @ {missed['occurrence']}: missed")
        if not report.runs and not report.missed:
            say("nothing due")
    if report.failed:
        raise typer.Exit(1)


def schedule(
    ctx: typer.Context,
    count: Annotated[int, typer.Option("--count", min=1, help="Upcoming per message.")] = 3,
    last: Annotated[int, typer.Option("--last", min=0, help="How many recent runs.")] = 10,
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """Upcoming occurrences of each scheduled message, and the last runs."""
    from passcli.project import require_project
    from passcli.scheduling.overview import last_runs, upcoming
    from passcli.store import read_transaction

    env = make_env(ctx, project, now, json)
    spec = require_project(env.settings.project_dir)
    coming = upcoming(spec.messages, env.now, env.settings.tz, count)
    with read_transaction(env.engine) as conn:
        recent = last_runs(conn, last)
    if json:
        print_json(
            {
                "at": env.now,
                "upcoming": [
                    {
                        "message": u.message,
                        "occurrence": u.occurrence,
                        "due_at": u.due_at,
                        "local": u.local,
                        "local_time": u.local_time,
                    }
                    for u in coming
                ],
                "runs": recent,
            }
        )
        return
    out.print(
        table(
            "Upcoming",
            ["message", "occurrence", "due (organisation time)"],
            [
                [
                    u.message,
                    u.occurrence,
                    u.local + (" (each customer's zone)" if u.local_time else ""),
                ]
                for u in coming
            ],
        )
    )
    out.print()
    rows: list[list[Any]] = []
    for r in recent:
        counts = r["counts"] or {}
        sent = counts.get("sent", {})
        rows.append(
            [
                r["message"],
                r["kind"],
                r["occurrence"],
                r["status"],
                counts.get("audience", ""),
                sum(sent.values()) if sent else "",
                counts.get("failed", ""),
            ]
        )
    out.print(
        table(
            "Last runs",
            ["message", "kind", "occurrence", "status", "audience", "sent", "failed"],
            rows,
        )
    )


def _project_of(ctx: typer.Context) -> Path | None:
    """--project given before the subcommand, if any."""
    root = ctx.find_root().obj
    return root.project if isinstance(root, Globals) else None


def scheduler(
    ctx: typer.Context,
    interval: Annotated[int, typer.Option("--interval", min=1, help="Seconds between runs.")] = 60,
    workers: WorkersOption = 1,
    project: ProjectOption = None,
) -> None:
    """Run run-due every minute in the foreground (APScheduler), for hosts without cron.

    One run at a time; missed runs coalesce; SIGTERM or Ctrl-C stops it after the run in
    progress. Each run reads the clock (a --now would repeat the same instant forever).
    """
    from passcli.scheduling.scheduler import run_forever

    def job() -> None:
        # No click context per run: each run's store is closed here, not at process exit
        # (which would keep one connection pool per minute alive for the process's life).
        env = None
        try:
            env = make_env(None, project or _project_of(ctx), None, False, clock=True)
            report = _run(env, False, False, None, workers)
            sent = sum(sum(r.sent.values()) for r in report.runs)
            err.print(
                f"run-due at {env.now:%Y-%m-%d %H:%M:%S}Z: {len(report.runs)} runs, {sent} sent"
            )
        except PasscliError as exc:  # one bad minute must not stop the scheduler
            err.print(f"run-due failed: {exc}")
        finally:
            if env is not None:
                env.close()

    say(f"passcli scheduler: run-due every {interval} s; Ctrl-C to stop")
    run_forever(job, wall_clock(), interval)
