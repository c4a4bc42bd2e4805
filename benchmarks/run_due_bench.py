"""run-due benchmark: the cron call with nothing due, and one occurrence to 100,000.

    python benchmarks/run_due_bench.py [--customers 1000000] [--send-customers 120000]

1. On the 1M-customer store (built by segments_bench.py / import, cached under
   benchmarks/data/), with the top-level messages.yaml: a first run-due at the examples'
   reference instant sends what is due; then run-due one minute later, when nothing is due,
   is timed as the core call in-process (median of 5) and as a whole process (median of 3).
   Goals (issue 6): core < 0.1 s, process < 1.5 s.
2. On a 120k-customer store: a daily message to everyone reachable by email (~100,000), due
   now; one `passcli run-due` into the outbox, in messages per second. Goal: >= 2,000/s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from common import BENCH_DIR, data_dir, machine, run_passcli

from passcli import sampledata
from passcli.branding import Branding
from passcli.delivery.transports import Transports
from passcli.project import require_project
from passcli.scaffold import init_project
from passcli.scheduling.run_due import RunDue
from passcli.store import open_store
from passcli.timeutil import zone

SCHEDULED = """\
messages:
  daily-news:
    segments: [reachable]
    channel: email
    subject: "News for you, {{ customerFirstName }}"
    once_per_customer: false
    body: |
      Hi {{ customerFirstName }}, new locations were added this week.
      View your pass: {{ dashboardUrl }}
      Unsubscribe: {{ unsubscribeLink }}
    schedule: {every: 1 day, start: "2026-11-01 09:00"}
"""
REACHABLE = "segments:\n  reachable:\n    conditions:\n      - subscribed: {channel: email}\n"


def nothing_due(customers: int) -> None:
    data = data_dir(customers)
    project = data / "project"
    if not (project / "passcli.db").exists():
        raise SystemExit("run benchmarks/segments_bench.py first: it imports the 1M store")
    shutil.copy(BENCH_DIR.parent / "messages.yaml", project / "messages.yaml")
    shutil.copy(BENCH_DIR.parent / "segments.yaml", project / "segments.yaml")
    env = {
        "PASSCLI_TIMEZONE": sampledata.TIMEZONE,
        "PASSCLI_PROJECT_DIR": str(project),
        "PASSCLI_DATABASE_URL": "",
        "PASSCLI_EMAIL_TRANSPORT": "outbox",
        "PASSCLI_SMS_TRANSPORT": "outbox",
    }
    now = sampledata.REFERENCE_NOW
    first = run_passcli(["run-due", "--json", "--now", now.isoformat()], env, project)
    if first.returncode not in (0, 1):
        raise SystemExit(first.stderr)
    sent = sum(sum(r["sent"].values()) for r in json.loads(first.stdout)["runs"])
    print(f"first run-due on {customers:,} customers: {sent:,} sent in {first.seconds:.1f} s")

    engine = open_store(f"sqlite:///{project / 'passcli.db'}")
    secret = (project / ".env").read_text().split("PASSCLI_SECRET_KEY=")[1].split()[0]
    runner = RunDue(
        engine=engine,
        project=require_project(project),
        tz=zone(sampledata.TIMEZONE),
        org_zone=sampledata.TIMEZONE,
        branding=Branding(
            "Org", "https://example.com/{customer_id}", "https://example.com/u", secret
        ),
        transports=Transports.fixed(_Refuse(), _Refuse()),
        wall_clock=lambda: now + timedelta(minutes=1),
        sleep=time.sleep,
    )
    core = []
    for minute in range(1, 6):
        started = time.perf_counter()
        report = runner.run(now + timedelta(minutes=minute))
        core.append(time.perf_counter() - started)
        assert not report.runs, "something was due"
    engine.dispose()
    process = []
    for minute in range(6, 9):
        later = (now + timedelta(minutes=minute)).isoformat()
        run = run_passcli(["run-due", "--now", later], env, project)
        process.append(run.seconds)
    print(
        f"nothing due: core call {statistics.median(core) * 1000:.0f} ms (median of 5), "
        f"whole process {statistics.median(process) * 1000:.0f} ms (median of 3)"
    )


def one_occurrence(customers: int) -> None:
    data = data_dir(customers)
    with tempfile.TemporaryDirectory(prefix="passcli-run-due-bench-") as folder:
        project = Path(folder)
        init_project(project, force=True)
        (project / "segments.yaml").write_text(REACHABLE)
        (project / "messages.yaml").write_text(SCHEDULED)
        env = {
            "PASSCLI_TIMEZONE": sampledata.TIMEZONE,
            "PASSCLI_PROJECT_DIR": str(project),
            "PASSCLI_DATABASE_URL": "",
        }
        for name in ("items.csv", "customers.csv"):
            run_passcli(["import", name.split(".")[0], str(data / name)], env, project)
        run = run_passcli(["run-due", "--json", "--now", "2026-11-22T09:05:00-07:00"], env, project)
        if run.returncode != 0:
            raise SystemExit(run.stderr)
        sent = sum(sum(r["sent"].values()) for r in json.loads(run.stdout)["runs"])
        files = len(list((project / "outbox" / "email").iterdir()))
        print(
            f"one occurrence: {sent:,} sent ({files:,} files) in {run.seconds:.1f} s = "
            f"{sent / run.seconds:,.0f} messages/s, peak {run.peak_rss_mb:.0f} MB"
        )


class _Refuse:
    """Nothing may be sent when nothing is due."""

    def send(self, message: object) -> str:
        raise AssertionError("a transport was called")

    def close(self) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--send-customers", type=int, default=120_000)
    args = parser.parse_args()
    print(machine())
    nothing_due(args.customers)
    one_occurrence(args.send_customers)


if __name__ == "__main__":
    main()
