"""`passcli run-due`: every occurrence due at or before now, exactly once (SPEC §5, §6).

Safe from cron every minute, twice at once, or after a crash:
- an occurrence is a row unique on (message, kind, occurrence); the run that inserts it, or
  takes it over from a run whose lease expired, is the only one that dispatches it;
- every delivery goes through the ledger, unique on (send key, recipient), so even two
  dispatches of one occurrence could not reach a customer twice;
- missed occurrences coalesce: only the latest due one runs, the earlier ones since the
  last recorded one are recorded as missed; an occurrence more than misfire_grace late is
  recorded as missed, not sent.
A schedule changed in messages.yaml applies from its next occurrence: recorded occurrences
keep their history (and their fingerprint), and no catch-up happens for the new version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from functools import cached_property
from typing import Any

from sqlalchemy import Engine, and_, func, literal, or_, select, update

from passcli.branding import Branding
from passcli.delivery.courier import Courier
from passcli.delivery.dispatch import Dispatcher, Occurrence, SendReport
from passcli.delivery.lease import Lease
from passcli.delivery.ledger import (
    MAX_ATTEMPTS,
    SendKey,
    WallClock,
    delivered,
    expire_stale,
    give_up,
    insert_ignoring_conflicts,
    run_is_gone,
)
from passcli.delivery.queue import has_pending, pending_scheduled_sends
from passcli.delivery.transports import Sleep, Transports
from passcli.delivery.workers import Crew, Workers
from passcli.errors import UsageError
from passcli.journeys.engine import JourneyRunner
from passcli.messages.audience import ZoneFilter
from passcli.messages.fingerprint import fingerprint
from passcli.messages.spec import MessageSpec
from passcli.policy.holds import Releaser, due_held
from passcli.policy.rules import SendRules
from passcli.project import Project
from passcli.scheduling.local_time import LocalTimeSchedules
from passcli.scheduling.occurrences import Occurrences, Slot
from passcli.scheduling.records import (
    MAX_MISSED_RECORDED,
    find_occurrence,
    scheduled_key,
    summed_counts,
    take_row,
)
from passcli.store.engine import read_transaction, write_transaction
from passcli.store.schema import deliveries, journey_states, occurrences


@dataclass
class RunDueReport:
    at: datetime
    dry_run: bool
    runs: list[SendReport] = field(default_factory=list)
    missed: list[dict[str, str]] = field(default_factory=list)
    journeys: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(run.failed for run in self.runs)

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "dry_run": self.dry_run,
            "runs": [run.to_json() for run in self.runs],
            "missed": self.missed,
            "journeys": self.journeys,
        }


@dataclass
class RunDue(LocalTimeSchedules):
    engine: Engine
    project: Project
    tz: tzinfo
    org_zone: str
    branding: Branding
    transports: Transports
    wall_clock: WallClock
    sleep: Sleep
    dry_run: bool = False
    retry_unknown: bool = False
    limit: int | None = None
    run_id: str | None = None
    workers: Workers = field(default_factory=Workers)

    @cached_property
    def _rules(self) -> SendRules:
        return SendRules.of(self.project, self.tz)

    def run(self, now: datetime) -> RunDueReport:
        report = RunDueReport(now, self.dry_run)
        scheduled = {n: m for n, m in self.project.messages.items() if m.schedule is not None}
        if not scheduled and not self._has_journeys() and not self._has_held(now):
            return report
        if self.dry_run:
            # Journeys are not simulated: a dry run reports none (docs/journeys.md).
            self._release(now, report)
            self._run_all(scheduled, now, report)
            return report
        if not self.branding.secret_key:
            raise UsageError(
                "PASSCLI_SECRET_KEY is required to send (it signs unsubscribe links); "
                "`passcli init` writes one into the project's .env"
            )
        with Lease(self.engine, "run-due", self.wall_clock) as lease:
            self.run_id = lease.id
            with write_transaction(self.engine) as conn:
                expire_stale(conn, self.wall_clock())
            try:
                self._release(now, report)
                self._run_all(scheduled, now, report)
                self._help_pending(now, report)
                report.journeys = self._journeys(now)
            finally:
                self.transports.close()
        return report

    def _has_journeys(self) -> bool:
        """Journeys in the file, or run before (a removed one still has customers to stop)."""
        if self.project.journeys:
            return True
        with read_transaction(self.engine) as conn:
            return (
                conn.execute(
                    select(journey_states.c.journey).where(journey_states.c.removed_at.is_(None))
                ).first()
                is not None
            )

    def _has_held(self, now: datetime) -> bool:
        """Deliveries held by quiet hours that may go out now."""
        with read_transaction(self.engine) as conn:
            return due_held(conn, now)

    def _release(self, now: datetime, report: RunDueReport) -> None:
        """Deliveries held by quiet hours that have ended go out first (SPEC §11): each send
        they belong to is one more entry of `runs`, for its original occurrence."""
        releaser = Releaser(self.engine, self._rules.caps, self.project.messages)
        drain = None if self.dry_run else self._drain_released
        for result in releaser.release(now, drain):
            result.released = True
            report.runs.append(result)

    def _drain_released(self, send_key: str, result: SendReport) -> None:
        assert self.run_id is not None
        self._deliver_queue(send_key, result.at, result)
        with read_transaction(self.engine) as conn:
            occurrence_id = conn.execute(
                select(deliveries.c.occurrence_id).where(deliveries.c.send_key == send_key).limit(1)
            ).scalar()
        if occurrence_id is not None:
            self._refresh_counts(int(occurrence_id), send_key)

    def _deliver_queue(self, send_key: str, now: datetime, result: SendReport) -> None:
        """Deliver the pending rows of a send, with this run's workers."""
        assert self.run_id is not None
        if self.workers.count == 1:
            courier = Courier(
                self.engine, self.branding, self.transports, self.sleep, self.run_id, now
            )
            courier.drain(send_key, result)
        else:
            crew = Crew(
                self.workers,
                self.engine,
                self.branding,
                self.transports,
                self.sleep,
                self.run_id,
                now,
                send_key,
            )
            crew.start().finish(result)

    def _journeys(self, now: datetime) -> list[dict[str, Any]]:
        """Every journey advanced as far as is due, inside this run's lease (SPEC §7)."""
        assert self.run_id is not None
        runner = JourneyRunner(
            engine=self.engine,
            project=self.project,
            tz=self.tz,
            org_zone=self.org_zone,
            branding=self.branding,
            transports=self.transports,
            sleep=self.sleep,
            wall_clock=self.wall_clock,
            run_id=self.run_id,
        )
        return runner.run(now)

    def _help_pending(self, now: datetime, report: RunDueReport) -> None:
        """Deliver what other runs planned and have not finished: a large occurrence is
        planned by the run that claimed it, and every run-due that starts meanwhile, on
        this host or another, takes batches of its queue (SKIP LOCKED on PostgreSQL)."""
        with read_transaction(self.engine) as conn:
            waiting = pending_scheduled_sends(conn)
            labels = {
                row.id: (row.message, row.occurrence)
                for row in conn.execute(
                    select(occurrences.c.id, occurrences.c.message, occurrences.c.occurrence).where(
                        occurrences.c.id.in_([occurrence_id for _, occurrence_id in waiting])
                    )
                )
            }
        assert self.run_id is not None
        for send_key, occurrence_id in waiting:
            message, label = labels[occurrence_id]
            result = SendReport(message, now, label, dry_run=False)
            self._deliver_queue(send_key, now, result)
            if result.sent["email"] or result.sent["sms"] or result.failed:
                report.runs.append(result)
                self._refresh_counts(occurrence_id, send_key)

    def _run_all(
        self, scheduled: dict[str, MessageSpec], now: datetime, report: RunDueReport
    ) -> None:
        zones: list[str] | None = None
        for name, spec in scheduled.items():
            assert spec.schedule is not None
            occurrences_ = Occurrences(spec.schedule, self.tz)
            if occurrences_.local_time:
                if zones is None:
                    zones = self._customer_zones()
                self._local_time(name, spec, occurrences_, zones, now, report)
            else:
                self._instant(name, spec, occurrences_, now, report)

    # -- ordinary schedules ---------------------------------------------------------------

    def _instant(
        self,
        name: str,
        spec: MessageSpec,
        schedule: Occurrences,
        now: datetime,
        report: RunDueReport,
    ) -> None:
        slot = schedule.due(now)
        if slot is None:
            return
        due_at = schedule.instant_of(slot.index)
        print_ = fingerprint(spec)
        if self._before_last_run(name, slot.label, due_at):
            return  # a changed schedule applies from its next occurrence, not retroactively
        self._record_missed_before(name, schedule, slot, print_, now, report)
        if now - due_at > schedule.grace:
            self._mark_missed(name, slot.label, print_, due_at, now, report)
            return
        occurrence_id = self._claim_occurrence(name, slot.label, print_, due_at, now)
        if occurrence_id is None:
            return
        self._dispatch(name, spec, slot.label, occurrence_id, print_, now, report, None)

    # -- occurrences ----------------------------------------------------------------------

    def _occurrence_row(
        self, name: str, label: str, status: str, print_: str, due_at: datetime, now: datetime
    ) -> dict[str, Any]:
        return {
            "message": name,
            "kind": "scheduled",
            "occurrence": label,
            "status": status,
            "run_id": self.run_id,
            "fingerprint": print_,
            "due_at": due_at,
            "started_at": now,
        }

    def _before_last_run(self, name: str, label: str, due_at: datetime) -> bool:
        """A slot the current schedule places at or before an occurrence already recorded
        (under any version of the message) but that was never recorded itself: it belongs
        to a schedule edited after that time."""
        with read_transaction(self.engine) as conn:
            last = conn.execute(
                select(func.max(occurrences.c.due_at)).where(
                    occurrences.c.message == name, occurrences.c.kind == "scheduled"
                )
            ).scalar()
            if last is None or due_at > last:
                return False
            return find_occurrence(conn, name, label) is None

    def _record_missed_before(
        self,
        name: str,
        schedule: Occurrences,
        slot: Slot,
        print_: str,
        now: datetime,
        report: RunDueReport,
    ) -> None:
        """Occurrences between the last one recorded for this version of the message and
        `slot` were never run: cron stopped, the machine was off. Record them as missed."""
        with read_transaction(self.engine) as conn:
            last = conn.execute(
                select(func.max(occurrences.c.due_at)).where(
                    occurrences.c.message == name,
                    occurrences.c.kind == "scheduled",
                    occurrences.c.fingerprint == print_,
                )
            ).scalar()
        if last is None:
            return  # first run of this version: no catch-up
        gap = [
            s
            for s in schedule.between(last, schedule.instant_of(slot.index) - timedelta(seconds=1))
            if s.index != slot.index
        ]
        for earlier in gap[-MAX_MISSED_RECORDED:]:
            self._mark_missed(
                name, earlier.label, print_, schedule.instant_of(earlier.index), now, report
            )

    def _mark_missed(
        self,
        name: str,
        label: str,
        print_: str,
        due_at: datetime,
        now: datetime,
        report: RunDueReport,
    ) -> None:
        if self.dry_run:
            with read_transaction(self.engine) as conn:
                if find_occurrence(conn, name, label) is None:
                    report.missed.append({"message": name, "occurrence": label})
            return
        with write_transaction(self.engine) as conn:
            if find_occurrence(conn, name, label) is not None:
                return
            row = self._occurrence_row(name, label, "missed", print_, due_at, now)
            row["finished_at"] = now
            insert_ignoring_conflicts(conn, occurrences, [row])
        report.missed.append({"message": name, "occurrence": label})

    def _claim_occurrence(
        self, name: str, label: str, print_: str, due_at: datetime, now: datetime
    ) -> int | None:
        """This run's right to dispatch the occurrence: a new row, a row whose run died, or
        a done one with transiently failed deliveries left to retry. None: not ours."""
        if self.dry_run:
            with read_transaction(self.engine) as conn:
                existing = conn.execute(
                    select(occurrences.c.status).where(
                        occurrences.c.message == name,
                        occurrences.c.kind == "scheduled",
                        occurrences.c.occurrence == label,
                    )
                ).scalar()
            return 0 if existing is None else None
        with write_transaction(self.engine) as conn:
            insert_ignoring_conflicts(
                conn,
                occurrences,
                [self._occurrence_row(name, label, "running", print_, due_at, now)],
            )
            row = conn.execute(
                select(occurrences.c.id, occurrences.c.status, occurrences.c.run_id).where(
                    occurrences.c.message == name,
                    occurrences.c.kind == "scheduled",
                    occurrences.c.occurrence == label,
                )
            ).one()
            if row.run_id == self.run_id and row.status == "running":
                return int(row.id)
            if row.status == "missed":
                return None
            retry = and_(
                occurrences.c.status == "done",
                select(deliveries.c.id)
                .where(
                    deliveries.c.occurrence_id == occurrences.c.id,
                    or_(
                        and_(deliveries.c.status == "failed", deliveries.c.retryable.is_(True)),
                        and_(deliveries.c.status == "unknown", literal(self.retry_unknown)),
                    ),
                    deliveries.c.attempts < MAX_ATTEMPTS,
                )
                .exists(),
            )
            taken = take_row(
                conn,
                occurrences,
                [
                    occurrences.c.id == row.id,
                    or_(
                        and_(
                            occurrences.c.status == "running",
                            run_is_gone(occurrences.c.run_id, self.wall_clock()),
                        ),
                        retry,
                    ),
                ],
                {"status": "running", "run_id": self.run_id},
            )
            return int(row.id) if taken else None

    def _dispatch(
        self,
        name: str,
        spec: MessageSpec,
        label: str,
        occurrence_id: int | None,
        print_: str,
        now: datetime,
        report: RunDueReport,
        zones: ZoneFilter | None,
    ) -> None:
        send = SendKey(
            key=scheduled_key(name, label),
            kind="message",
            message=name,
            occurrence_id=occurrence_id or None,
            occurrence=label,
            fingerprint=print_,
        )
        dispatcher = Dispatcher(
            engine=self.engine,
            segments=self.project.segments,
            branding=self.branding,
            transports=self.transports,
            tz=self.tz,
            sleep=self.sleep,
            run_id=self.run_id,
            retry_unknown=self.retry_unknown,
            workers=self.workers,
            rules=self._rules,
        )
        result = dispatcher.deliver(
            name, spec, Occurrence(send, label), now, self.dry_run, self.limit, zones
        )
        report.runs.append(result)
        if self.dry_run or not occurrence_id:
            return
        with write_transaction(self.engine) as conn:
            assert self.run_id is not None
            give_up(conn, send.key, self.run_id)
        # Customers held back by --limit stay eligible: the occurrence stays open for the
        # next run-due, which takes it over once this run's lease has ended.
        # Those held by quiet hours are in the ledger: a later run-due releases them.
        finished = zones is None and not result.holds["limit"]
        self._finish_if_delivered(occurrence_id, send.key, result, finished, zones)

    def _finish_if_delivered(
        self,
        occurrence_id: int,
        send_key: str,
        result: SendReport,
        finished: bool,
        zones: ZoneFilter | None = None,
    ) -> None:
        """Keep the occurrence's counts (the planner's audience and skips, with sent and
        failed from the ledger: other runs may have delivered part of it), and mark it done
        when it is finished and nothing of it waits in the queue. A local-time occurrence is
        sent zone by zone: its counts add up each group of zones' last run."""
        with write_transaction(self.engine) as conn:
            counts = result.counts()
            if zones is not None:
                stored = conn.execute(
                    select(occurrences.c.counts).where(occurrences.c.id == occurrence_id)
                ).scalar()
                groups = dict((stored or {}).get("zones") or {})
                groups[",".join(zones.names)] = counts
                counts = {**counts, **summed_counts(list(groups.values())), "zones": groups}
            values: dict[str, Any] = {"counts": {**counts, **delivered(conn, send_key)}}
            if finished and not has_pending(conn, send_key):
                values.update(status="done", finished_at=result.at)
            conn.execute(
                update(occurrences).where(occurrences.c.id == occurrence_id).values(values)
            )

    def _refresh_counts(self, occurrence_id: int, send_key: str) -> None:
        """After helping with another run's occurrence: if it is done already, its counts
        must include what this run delivered."""
        with write_transaction(self.engine) as conn:
            stored = conn.execute(
                select(occurrences.c.counts).where(
                    occurrences.c.id == occurrence_id, occurrences.c.status == "done"
                )
            ).scalar()
            if stored is not None:
                conn.execute(
                    update(occurrences)
                    .where(occurrences.c.id == occurrence_id)
                    .values(counts={**stored, **delivered(conn, send_key)})
                )
