"""`passcli init` and `passcli demo`."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from passcli.cli.context import Globals, NowOption, ProjectOption, make_env
from passcli.cli.customer import show
from passcli.cli.output import out, say
from passcli.cli.segment import list_segments, preview
from passcli.errors import UsageError


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("demo")(demo)


def init(
    ctx: typer.Context,
    directory: Annotated[
        Path | None, typer.Argument(help="Where to create the project (default: --project or .).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    project: ProjectOption = None,
    now: NowOption = None,
) -> None:
    """Create segments.yaml, messages.yaml, .env (with a secret key) and the store."""
    from passcli.scaffold import init_project
    from passcli.store import open_store, safe_url

    root = ctx.find_root().obj
    earlier = root.project if isinstance(root, Globals) else None
    target = (directory or project or earlier or Path.cwd()).resolve()
    written = init_project(target, force=force)
    env = make_env(ctx, target, now)
    open_store(env.settings.store_url).dispose()
    for path in written:
        say(f"wrote {path}")
    say(f"created the store {safe_url(env.settings.store_url)}")
    say(f"next: cd {target} && passcli import customers FILE.csv")


def demo(
    ctx: typer.Context,
    directory: Annotated[
        Path | None,
        typer.Argument(help="An empty or new folder for the demo project (default: a temp dir)."),
    ] = None,
    project: ProjectOption = None,
    now: NowOption = None,
) -> None:
    """Build a project from the bundled example data and show what passcli does.

    The demo runs at the examples' reference instant (pinned in the demo project's .env);
    --now moves what it shows, --project names the folder like DIR does.
    """
    from passcli.demo import SHOWCASE_CUSTOMER, SHOWCASE_SEGMENT, build_demo

    directory = directory or project
    if directory is None:
        target = Path(tempfile.mkdtemp(prefix="passcli-demo-"))
    else:
        target = directory.resolve()
        if target.exists() and any(target.iterdir()):
            raise UsageError(f"{target} is not empty: give demo a new or empty folder")
    result = build_demo(target)
    out.rule("passcli demo")
    out.print(f"Project: {target}")
    out.print("It pins PASSCLI_NOW to the examples' reference instant, in its .env.\n")
    for report in result.reports:
        out.print(report.summary)
    out.print()
    out.rule("passcli segment list")
    list_segments(ctx, project=target, now=now)
    out.print()
    out.rule(f"passcli segment preview {SHOWCASE_SEGMENT} --limit 5")
    preview(ctx, SHOWCASE_SEGMENT, limit=5, project=target, now=now)
    out.print()
    out.rule("passcli send NAME --dry-run, for each message")
    for line in _dry_runs(ctx, target, now):
        out.print(line, highlight=False)
    out.print()
    out.rule(f"passcli customer show {SHOWCASE_CUSTOMER}")
    show(ctx, SHOWCASE_CUSTOMER, events=5, project=target, now=now)
    out.print()
    out.print("Try, in that folder:")
    out.print(f"  cd {target}")
    out.print("  passcli validate")
    out.print("  passcli message preview expiration-reminder --customer c0000002")
    out.print("  passcli run-due --dry-run")
    out.print(f"  passcli segment preview {SHOWCASE_SEGMENT} --sql")
    out.print("  passcli segment export high-ltv --format jsonl")
    out.print(f"  passcli customer show {SHOWCASE_CUSTOMER} --json")


def _dry_runs(ctx: typer.Context, directory: Path, now: str | None) -> list[str]:
    """One line per message: who a send now would reach, and why the others would not."""
    from passcli.cli.message import send_with_settings

    env = make_env(ctx, directory, now)
    spec = env.project()
    lines = []
    for name in spec.messages:
        report = send_with_settings(env, spec, name, dry_run=True)
        skipped = ", ".join(f"{k} {v}" for k, v in sorted(report.skipped.items()))
        lines.append(
            f"{name}: audience {report.audience}, would send {report.sent['email']} email and "
            f"{report.sent['sms']} sms" + (f"; skipped {skipped}" if skipped else "")
        )
        report.recipients.close()
    return lines
