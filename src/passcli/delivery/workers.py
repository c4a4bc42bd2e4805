"""A crew of couriers on one send (`--workers N`): threads of this process, or processes.

The planner (the dispatcher, in the calling thread) fills the send's queue while the crew
empties it; `finish()` tells the crew that planning is over, waits for it, and returns what
it did. Processes are what make a CPU-bound send (rendering MIME, writing the outbox) use
more than one core; each builds its own store connection and transports from the settings
and shares the calling run's lease, which the calling process keeps renewing. Threads share
the process's transports factory (one transport per thread) and suit network-bound sends
and tests with injected transports.

On PostgreSQL the couriers claim side by side (SKIP LOCKED); on SQLite they take turns at
the write lock, so more workers help only while the transports, not the store, are what
takes the time.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from passcli import errors
from passcli.branding import Branding
from passcli.delivery.courier import Courier, Signal
from passcli.delivery.report import SendReport
from passcli.delivery.transports import Sleep, Transports
from passcli.settings import Settings

if TYPE_CHECKING:
    from passcli.policy.spec import RateLimit

MAX_WORKERS = 64
# How often the planner's process checks that its worker processes are still alive.
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Workers:
    """How many couriers deliver a send, and how.

    `settings` given: that many processes, each with its own store connection and the
    transports these settings name. None: threads sharing the dispatcher's transports
    factory. One worker is the calling thread itself (no crew)."""

    count: int = 1
    settings: Settings | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_WORKERS:
            raise errors.UsageError(f"--workers must be between 1 and {MAX_WORKERS}")


@dataclass(frozen=True)
class _Job:
    """What a worker process needs (picklable)."""

    index: int
    database_url: str
    settings: Settings
    branding: Branding
    send_key: str
    run_id: str
    now: datetime
    parent_pid: int
    spool_path: str
    # policy.yaml's rate limits: each process paces its transports by them, through the
    # store, so that N workers share one rate.
    rate_limits: dict[str, RateLimit]


@dataclass
class Crew:
    workers: Workers
    engine: Engine
    branding: Branding
    transports: Transports
    sleep: Sleep
    run_id: str
    now: datetime
    send_key: str

    def __post_init__(self) -> None:
        self._threads: list[threading.Thread] = []
        self._reports: list[SendReport] = []
        self._errors: list[BaseException] = []
        self._processes: list[Any] = []
        self._planned: Any = threading.Event()  # or the spawn context's Event
        self._stopping = False
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._results: Any = None

    def start(self) -> Crew:
        if self.workers.settings is None:
            self._start_threads()
        else:
            self._start_processes(self.workers.settings)
        return self

    def finish(self, report: SendReport) -> None:
        """Planning is over: wait for the crew to empty the queue; add what it did to
        `report`. A worker's error is raised here, after every worker has stopped."""
        self._planned.set()
        try:
            if self.workers.settings is None:
                self._finish_threads(report)
            else:
                self._finish_processes(report)
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop at once (an error in the planner): workers end after their batch."""
        self._planned.set()
        self._stopping = True
        for process in self._processes:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()
        for thread in self._threads:
            thread.join()
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    # -- threads ------------------------------------------------------------------------

    def _start_threads(self) -> None:
        for index in range(self.workers.count):
            report = SendReport("", self.now, "", dry_run=False)
            self._reports.append(report)
            thread = threading.Thread(
                target=self._thread_main, args=(report,), name=f"passcli-courier-{index}"
            )
            self._threads.append(thread)
            thread.start()

    def _thread_main(self, report: SendReport) -> None:
        transports = Transports(self.transports.factory)
        courier = Courier(self.engine, self.branding, transports, self.sleep, self.run_id, self.now)
        try:
            courier.work(self.send_key, report, self._planned, alive=lambda: not self._stopping)
        except BaseException as exc:  # handed to the planner's thread by finish()
            self._errors.append(exc)
        finally:
            transports.close()

    def _finish_threads(self, report: SendReport) -> None:
        for thread in self._threads:
            thread.join()
        for part in self._reports:
            report.merge(part)
        if self._errors:
            raise self._errors[0]

    # -- processes ----------------------------------------------------------------------

    def _start_processes(self, settings: Settings) -> None:
        # spawn, not fork: the parent has threads (the lease) and open connections.
        context = multiprocessing.get_context("spawn")
        self._planned = context.Event()
        self._results = context.Queue()
        self._folder = tempfile.TemporaryDirectory(prefix="passcli-crew-")
        url = self.engine.url.render_as_string(hide_password=False)
        limits = self.transports.limits
        rates = dict(limits.rates) if limits is not None else {}
        for index in range(self.workers.count):
            job = _Job(
                index=index,
                database_url=url,
                settings=settings,
                branding=self.branding,
                send_key=self.send_key,
                run_id=self.run_id,
                now=self.now,
                parent_pid=os.getpid(),
                spool_path=self._spool_path(index),
                rate_limits=rates,
            )
            process = context.Process(
                target=_process_main,
                args=(job, self._planned, self._results),
                name=f"passcli-courier-{index}",
                daemon=True,
            )
            process.start()
            self._processes.append(process)

    def _finish_processes(self, report: SendReport) -> None:
        import queue

        waiting = set(range(len(self._processes)))
        failure: BaseException | None = None
        while waiting:
            try:
                index, problem, sent, failed = self._results.get(timeout=POLL_SECONDS)
            except queue.Empty:
                for index in list(waiting):
                    process = self._processes[index]
                    if not process.is_alive() and self._results.empty():
                        waiting.discard(index)
                        failure = failure or errors.DeliveryError(
                            f"worker {index + 1} stopped (exit code {process.exitcode}) "
                            "before it reported; `passcli log` shows what it recorded"
                        )
                continue
            waiting.discard(index)
            if problem is not None:
                failure = failure or _error(*problem)
            for channel, count in sent.items():
                report.sent[channel] = report.sent.get(channel, 0) + count
            report.failed += failed
            spooled = Path(self._spool_path(index))
            if spooled.exists():
                with spooled.open("rb") as handle:
                    for line in handle:
                        report.recipients.append_raw(line.rstrip(b"\n"))
        if failure is not None:
            raise failure

    def _spool_path(self, index: int) -> str:
        assert self._folder is not None
        return str(Path(self._folder.name) / f"courier-{index}.jsonl")


def _error(name: str, message: str) -> BaseException:
    """A worker's error, raised again in the planner's process as the same passcli error."""
    kind = getattr(errors, name, None)
    if (
        isinstance(kind, type)
        and issubclass(kind, errors.PasscliError)
        and kind not in (errors.InvalidProjectError,)
    ):
        return kind(message)
    return errors.DeliveryError(f"a worker failed: {name}: {message}")


def _process_main(job: _Job, planned: Signal, results: Any) -> None:
    """A worker process: deliver the send's queue, spool its recipients, report."""
    from passcli.delivery.ratelimit import RateLimits
    from passcli.store.engine import make_engine

    report = SendReport("", job.now, "", dry_run=False)
    problem: tuple[str, str] | None = None
    try:
        engine = make_engine(job.database_url)
        limits = None
        if job.rate_limits:
            limits = RateLimits(engine, job.rate_limits, time.time, time.sleep)
        transports = Transports.from_settings(job.settings, limits)
        courier = Courier(engine, job.branding, transports, time.sleep, job.run_id, job.now)
        try:
            courier.work(
                job.send_key, report, planned, alive=lambda: os.getppid() == job.parent_pid
            )
        finally:
            transports.close()
            engine.dispose()
    except KeyboardInterrupt:
        problem = ("DeliveryError", "interrupted")
    except Exception as exc:
        problem = (type(exc).__name__, str(exc))
    with open(job.spool_path, "wb") as handle:
        for line in report.recipients.raw():
            handle.write(line + b"\n")
    report.recipients.close()
    results.put((job.index, problem, dict(report.sent), report.failed))
