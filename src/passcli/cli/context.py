"""Options every command shares, and the one place the CLI reads the clock.

`--project` and `--now` may come before the subcommand (the app callback keeps them in the
click context) or after it (each command's own options); the later one wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from sqlalchemy import Engine

from passcli.branding import Branding
from passcli.errors import UsageError
from passcli.settings import Settings, load_settings
from passcli.timeutil import InvalidTimestamp, parse_instant

if TYPE_CHECKING:
    from passcli.delivery.transports import Transports
    from passcli.delivery.workers import Workers
    from passcli.project import Project

ProjectOption = Annotated[
    Path | None,
    typer.Option(
        "--project",
        help="The project directory (default: PASSCLI_PROJECT_DIR or the current directory).",
        show_default=False,
    ),
]
NowOption = Annotated[
    str | None,
    typer.Option(
        "--now",
        help="Pretend this ISO-8601 instant is now; without offset it is read in "
        "PASSCLI_TIMEZONE (default: PASSCLI_NOW or the clock).",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON document on stdout.", show_default=False)
]
WorkersOption = Annotated[
    int,
    typer.Option(
        "--workers",
        min=1,
        max=64,
        help="Deliver with N worker processes side by side (PostgreSQL: in parallel; "
        "SQLite: taking turns at the store).",
    ),
]


@dataclass
class Globals:
    """What the app callback saw before the subcommand."""

    project: Path | None = None
    now: str | None = None


@dataclass
class Env:
    """Settings, the instant that counts as now, and the store, for one command."""

    settings: Settings
    now: datetime
    json: bool = False
    _engine: Engine | None = field(default=None, repr=False)

    def project(self) -> Project:
        """The project's files, checked; item names against the store's items."""
        from passcli.project import require_project
        from passcli.segments.evaluate import known_items
        from passcli.store import read_transaction

        with read_transaction(self.engine) as conn:
            items = known_items(conn)
        return require_project(self.settings.project_dir, items)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def workers(self, count: int) -> Workers:
        """`--workers N`: N processes, each with its own store connection and transports."""
        from passcli.delivery.workers import Workers

        return Workers(count, self.settings if count > 1 else None)

    def transports(self) -> Transports:
        """The transports the settings name, one per channel, made on first use; smtp and
        twilio paced by policy.yaml's rate limits, through the store (so that every worker
        and every process sending from it shares one rate). Only policy.yaml is read here:
        an invalid one is an InvalidProjectError like any project file."""
        import time

        from passcli.delivery.ratelimit import RateLimits
        from passcli.delivery.transports import Transports
        from passcli.errors import InvalidProjectError
        from passcli.project import load_policy

        policy, diagnostics = load_policy(self.settings.project_dir)
        if diagnostics:
            raise InvalidProjectError(diagnostics)
        if not policy.rate_limits:
            return Transports.from_settings(self.settings)
        rates = {str(channel): rate for channel, rate in policy.rate_limits.items()}
        # The wall clock, never --now: slots are shared, in real time, with other processes.
        limits = RateLimits(self.engine, rates, time.time, time.sleep)
        return Transports.from_settings(self.settings, limits)

    @property
    def branding(self) -> Branding:
        s = self.settings
        return Branding(
            org_name=s.org_name,
            dashboard_url=s.dashboard_url,
            unsubscribe_url=s.unsubscribe_url,
            secret_key=s.secret_key.get_secret_value() if s.secret_key else None,
        )

    @property
    def engine(self) -> Engine:
        """The store, opened (and migrated) on first use."""
        if self._engine is None:
            from passcli.store import open_store

            self._engine = open_store(self.settings.store_url)
        return self._engine


def make_env(
    ctx: typer.Context | None,
    project: Path | None = None,
    now: str | None = None,
    json: bool = False,
    clock: bool = False,
    **overrides: Any,
) -> Env:
    """Merge command-level options over the app-level ones, then settings and the clock.

    `clock` reads the real time whatever --now or PASSCLI_NOW say (the scheduler)."""
    root = ctx.find_root().obj if ctx is not None else None
    globals_ = root if isinstance(root, Globals) else Globals()
    settings = load_settings(project or globals_.project, **overrides)
    instant = wall_clock() if clock else resolve_now(now or globals_.now, settings)
    env = Env(settings=settings, now=instant, json=json)
    if ctx is not None:
        ctx.call_on_close(env.close)  # the store's connections end with the command
    return env


def wall_clock() -> datetime:
    """The real time, for leases (never --now: a lease must expire in real time)."""
    return datetime.now(UTC)


def resolve_now(option: str | None, settings: Settings) -> datetime:
    """--now, else PASSCLI_NOW, else the clock: the only clock read in passcli."""
    if option:
        try:
            return parse_instant(option, settings.tz)
        except InvalidTimestamp:
            raise UsageError(f"--now must be an ISO-8601 instant, not {option!r}") from None
    return settings.pinned_now() or datetime.now(UTC)
