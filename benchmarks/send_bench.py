"""Send benchmark: one message to 10,000 and 100,000 recipients, dry run and outbox.

    python benchmarks/send_bench.py [--customers 120000]

Builds a store from the example generator (customers only; about 85% can receive email),
a segment of everyone reachable by email and one templated email with a pass, then times
`passcli send NAME --dry-run --json` and `passcli send NAME --yes --json` (outbox) as
processes, with --limit 10000 and 100000, printing messages per second (start-up included)
and each process's peak memory. Goals (issue 5): dry run >= 5,000/s, outbox >= 2,000/s,
the same peak memory at 10k and 100k.
"""

from __future__ import annotations

import argparse
import json
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
    args = parser.parse_args()
    data = data_dir(args.customers)
    with tempfile.TemporaryDirectory(prefix="passcli-send-bench-") as folder:
        project = Path(folder)
        init_project(project, force=True)
        (project / "segments.yaml").write_text(SEGMENTS)
        (project / "messages.yaml").write_text(MESSAGES)
        env = {
            "PASSCLI_TIMEZONE": sampledata.TIMEZONE,
            "PASSCLI_DATABASE_URL": "",
            "PASSCLI_PROJECT_DIR": str(project),
        }
        for name in ("items.csv", "customers.csv", "purchases.csv", "redemptions.csv"):
            run = run_passcli(["import", name.split(".")[0], str(data / name)], env, project)
            if run.returncode != 0:
                raise SystemExit(run.stderr)
        print(machine())
        print(f"{'mode':<8} {'limit':>7} {'sent':>7} {'seconds':>8} {'msgs/s':>8} {'peak MB':>8}")
        minute = 0
        for mode in ("dry-run", "outbox"):
            for limit in (10_000, 100_000):
                minute += 1  # a new --now each time: a new manual occurrence
                now = f"2026-11-22T10:{minute:02d}:00-07:00"
                flags = ["--dry-run"] if mode == "dry-run" else ["--yes"]
                run = run_passcli(
                    ["send", "news", *flags, "--limit", str(limit), "--json", "--now", now],
                    env,
                    project,
                )
                if run.returncode != 0:
                    raise SystemExit(run.stderr)
                sent = sum(json.loads(run.stdout)["sent"].values())
                print(
                    f"{mode:<8} {limit:>7,} {sent:>7,} {run.seconds:>8.1f}"
                    f" {sent / run.seconds:>8,.0f} {run.peak_rss_mb:>8.0f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
