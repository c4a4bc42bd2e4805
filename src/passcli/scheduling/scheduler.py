"""`passcli scheduler`: run-due every minute in a foreground process, for hosts without cron.

APScheduler's BlockingScheduler with coalescing and one instance at a time; SIGTERM and
SIGINT stop it after the run in progress. The job itself is the same `run_due` call that
cron's `passcli run-due` makes, so both deploy the same guarantees.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from datetime import datetime
from types import FrameType

JOB_ID = "run-due"


def run_forever(job: Callable[[], None], first_run: datetime, interval_seconds: int = 60) -> None:
    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = BlockingScheduler(
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": interval_seconds}
    )
    scheduler.add_job(job, "interval", seconds=interval_seconds, id=JOB_ID, next_run_time=first_run)

    def stop(signum: int, frame: FrameType | None) -> None:
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    scheduler.start()
