"""Send benchmark: one message to 10,000 and 100,000 recipients, dry run and outbox, with
one worker and four.

    python benchmarks/send_bench.py [--customers 120000] [--database-url URL]

Builds a store from the example generator (customers only; about 85% can receive email),
a segment of everyone reachable by email and one templated email with a pass, then times
`passcli send NAME --dry-run --json` and `passcli send NAME --yes --workers N --json`
(outbox) as processes, with --limit 10000 and 100000, printing messages per second
(start-up included) and each process's peak memory (the workers' own memory is not in it).
The store is a SQLite file in a temporary project, or, with --database-url, a database
`passcli_send_bench` made afresh on that PostgreSQL server.

Goals: dry run >= 5,000/s, the same peak memory at 10k and 100k (issue 5); one worker
>= 5,000/s into the outbox, four workers on PostgreSQL >= 1.5x one (issue 7).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from common import data_dir, machine, run_passcli

from passcli import sampledata
from passcli.scaffold import init_project

SEGMENTS = """\
segments:
  reachable:
    conditions:
      - subscribed: {channel: email}
"""
MESSAGES = """\
messages:
  news:
    segments: [reachable]
    channel: email
    subject: "News for you, {{ customerFirstName }}"
    pass: explorer-pass
    once_per_customer: false
    body: |
      Hi {{ customerFirstName }},
      New locations and exclusive offers have just been added to your {{ passName }}.
      If you're looking to explore more spots, unlock special deals, or try something new,
      we've got you covered! You have {{ pointsEarned }} points.
      View your pass: {{ dashboardUrl }}
      Unsubscribe: {{ unsubscribeLink }}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=120_000)
    parser.add_argument(
        "--database-url", help="a PostgreSQL server (postgresql+psycopg://...); default SQLite"
    )
    args = parser.parse_args()
    data = data_dir(args.customers)
    with tempfile.TemporaryDirectory(prefix="passcli-send-bench-") as folder:
        project = Path(folder)
        init_project(project, force=True)
        (project / "segments.yaml").write_text(SEGMENTS)
        (project / "messages.yaml").write_text(MESSAGES)
        env = {
            "PASSCLI_TIMEZONE": sampledata.TIMEZONE,
            "PASSCLI_DATABASE_URL": fresh_database(args.database_url) if args.database_url else "",
            "PASSCLI_PROJECT_DIR": str(project),
        }
        for name in ("items.csv", "customers.csv", "purchases.csv", "redemptions.csv"):
            run = run_passcli(["import", name.split(".")[0], str(data / name)], env, project)
            if run.returncode != 0:
                raise SystemExit(run.stderr)
        print(machine())
        print(f"store: {'PostgreSQL' if args.database_url else 'SQLite'}")
        print(
            f"{'mode':<8} {'workers':>7} {'limit':>7} {'sent':>7} {'seconds':>8} {'msgs/s':>8}"
            f" {'peak MB':>8}"
        )
        runs = [
            ("dry-run", 1, 10_000),
            ("dry-run", 1, 100_000),
            ("outbox", 1, 10_000),
            ("outbox", 1, 100_000),
            ("outbox", 4, 100_000),
        ]
        for minute, (mode, workers, limit) in enumerate(runs, start=1):
            now = f"2026-11-22T10:{minute:02d}:00-07:00"  # a new manual occurrence each time
            flags = ["--dry-run"] if mode == "dry-run" else ["--yes", "--workers", str(workers)]
            shutil.rmtree(project / "outbox", ignore_errors=True)  # the same disk work each run
            run = run_passcli(
                ["send", "news", *flags, "--limit", str(limit), "--json", "--now", now],
                env,
                project,
            )
            if run.returncode != 0:
                raise SystemExit(run.stderr)
            sent = sum(json.loads(run.stdout)["sent"].values())
            print(
                f"{mode:<8} {workers:>7} {limit:>7,} {sent:>7,} {run.seconds:>8.1f}"
                f" {sent / run.seconds:>8,.0f} {run.peak_rss_mb:>8.0f}",
                flush=True,
            )


def fresh_database(server: str) -> str:
    """An empty database `passcli_send_bench` on the server; its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(server)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS passcli_send_bench WITH (FORCE)"))
        conn.execute(text("CREATE DATABASE passcli_send_bench"))
    admin.dispose()
    return url.set(database="passcli_send_bench").render_as_string(hide_password=False)


if __name__ == "__main__":
    main()
