"""Local-time schedules: an occurrence is due at its wall time in each customer's zone.

The first run-due at or after that time in a zone sends to the zone's members (or records
the zone as missed when it is more than misfire_grace late); occurrences cron missed there
since are recorded as missed; transient failures are retried zone by zone. `RunDue` mixes
this in; it provides the store, the run and `_dispatch`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, func, select, update

from passcli.delivery.ledger import (
    MAX_ATTEMPTS,
    WallClock,
    insert_ignoring_conflicts,
    run_is_gone,
)
from passcli.messages.audience import ZoneFilter
from passcli.messages.fingerprint import fingerprint
from passcli.messages.spec import MessageSpec
from passcli.scheduling.occurrences import Occurrences
from passcli.scheduling.records import (
    MAX_MISSED_RECORDED,
    find_occurrence,
    scheduled_key,
    take_row,
)
from passcli.store.engine import read_transaction, write_transaction
from passcli.store.schema import customers, deliveries, occurrence_zones, occurrences
from passcli.timeutil import zone

if TYPE_CHECKING:
    from passcli.scheduling.run_due import RunDueReport


class LocalTimeSchedules:
    """The local-time half of run-due (see the module docstring)."""

    engine: Engine
    dry_run: bool
    run_id: str | None
    org_zone: str
    wall_clock: WallClock

    def _occurrence_row(
        self, name: str, label: str, status: str, print_: str, due_at: datetime, now: datetime
    ) -> dict[str, Any]:
        raise NotImplementedError

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
        raise NotImplementedError

    def _local_time(
        self,
        name: str,
        spec: MessageSpec,
        schedule: Occurrences,
        zones: list[str],
        now: datetime,
        report: RunDueReport,
    ) -> None:
        """Each zone is due at the wall time there; the first run-due at or after it sends
        to that zone's members (or records the zone as missed when it is too late)."""
        print_ = fingerprint(spec)
        last_by_zone = self._last_local(name, print_)
        groups: dict[int, list[str]] = {}
        opened: set[int | None] = set()
        for name_of_zone in zones:
            index = schedule.latest_index_at(now, zone(name_of_zone))
            if index is None:
                continue
            groups.setdefault(index, []).append(name_of_zone)
            last = last_by_zone.get(name_of_zone)
            if last is not None:  # coalesce: what cron missed there since is recorded missed
                where = zone(name_of_zone)
                before = schedule.instant_of(index, where) - timedelta(seconds=1)
                earlier = list(schedule.between(last, before, where))
                for slot in earlier[-MAX_MISSED_RECORDED:]:
                    due = schedule.instant_of(slot.index, where)
                    occurrence_id = self._open_local(name, slot.label, print_, due, now)
                    opened.add(occurrence_id)
                    if self._claim_zone(
                        name, slot.label, occurrence_id, name_of_zone, "missed", due, now
                    ):
                        report.missed.append(
                            {"message": name, "occurrence": slot.label, "zone": name_of_zone}
                        )
        for index, group in sorted(groups.items()):
            slot = schedule.slot(index)
            first_due = min(schedule.instant_of(index, zone(z)) for z in group)
            occurrence_id = self._open_local(name, slot.label, print_, first_due, now)
            opened.add(occurrence_id)
            sendable = []
            for z in group:
                due_at = schedule.instant_of(index, zone(z))
                late = now - due_at > schedule.grace
                state = "missed" if late else "running"
                if not self._claim_zone(name, slot.label, occurrence_id, z, state, due_at, now):
                    continue
                if late:
                    report.missed.append({"message": name, "occurrence": slot.label, "zone": z})
                else:
                    sendable.append(z)
            if not sendable:
                continue
            filter_ = ZoneFilter(tuple(sendable), self.org_zone)
            self._dispatch(name, spec, slot.label, occurrence_id, print_, now, report, filter_)
            self._finish_zones(occurrence_id, sendable)
        for occurrence_id in opened:
            self._close_if_settled(occurrence_id, zones, now)

    def _last_local(self, name: str, print_: str) -> dict[str, datetime]:
        """Per zone, when this version of a local-time message was last due there."""
        with read_transaction(self.engine) as conn:
            rows = conn.execute(
                select(occurrence_zones.c.zone, func.max(occurrence_zones.c.due_at))
                .join(occurrences, occurrences.c.id == occurrence_zones.c.occurrence_id)
                .where(occurrences.c.message == name, occurrences.c.fingerprint == print_)
                .group_by(occurrence_zones.c.zone)
            ).all()
        return {str(z): due for z, due in rows if due is not None}

    def _customer_zones(self) -> list[str]:
        """Every zone a customer is due in: their own, or the organisation's."""
        with read_transaction(self.engine) as conn:
            found = conn.execute(
                select(func.coalesce(customers.c.timezone, self.org_zone)).distinct()
            ).scalars()
            return sorted({str(z) for z in found} | {self.org_zone})

    def _open_local(
        self, name: str, label: str, print_: str, due_at: datetime, now: datetime
    ) -> int | None:
        if self.dry_run:
            return None
        with write_transaction(self.engine) as conn:
            insert_ignoring_conflicts(
                conn,
                occurrences,
                [self._occurrence_row(name, label, "running", print_, due_at, now)],
            )
            return find_occurrence(conn, name, label)

    def _claim_zone(
        self,
        name: str,
        label: str,
        occurrence_id: int | None,
        name_of_zone: str,
        status: str,
        due: datetime,
        now: datetime,
    ) -> bool:
        """Whether this run handles the zone for this occurrence: it inserted its row, or
        took it over from a run that died. A dry run only looks."""
        if occurrence_id is None:  # a dry run records nothing: pending unless already handled
            with read_transaction(self.engine) as conn:
                existing = find_occurrence(conn, name, label)
                return existing is None or (
                    conn.execute(
                        select(occurrence_zones.c.zone).where(
                            occurrence_zones.c.occurrence_id == existing,
                            occurrence_zones.c.zone == name_of_zone,
                        )
                    ).first()
                    is None
                )
        with write_transaction(self.engine) as conn:
            insert_ignoring_conflicts(
                conn,
                occurrence_zones,
                [
                    {
                        "occurrence_id": occurrence_id,
                        "zone": name_of_zone,
                        "status": status,
                        "run_id": self.run_id,
                        "due_at": due,
                        "at": now,
                    }
                ],
            )
            row = conn.execute(
                select(occurrence_zones.c.status, occurrence_zones.c.run_id).where(
                    occurrence_zones.c.occurrence_id == occurrence_id,
                    occurrence_zones.c.zone == name_of_zone,
                )
            ).one()
            if row.run_id == self.run_id:
                return True
            if row.status == "done" and status == "running":
                # Done, but with transient failures there to retry (within the grace, since
                # the zone is not late): take it again, as ordinary occurrences are.
                if not self._retries_in_zone(conn, name, label, name_of_zone):
                    return False
                return take_row(
                    conn,
                    occurrence_zones,
                    [
                        occurrence_zones.c.occurrence_id == occurrence_id,
                        occurrence_zones.c.zone == name_of_zone,
                        occurrence_zones.c.status == "done",
                    ],
                    {"run_id": self.run_id, "status": "running", "at": now},
                )
            if row.status != "running":
                return False
            return take_row(
                conn,
                occurrence_zones,
                [
                    occurrence_zones.c.occurrence_id == occurrence_id,
                    occurrence_zones.c.zone == name_of_zone,
                    occurrence_zones.c.status == "running",
                    run_is_gone(occurrence_zones.c.run_id, self.wall_clock()),
                ],
                {"run_id": self.run_id, "status": status, "at": now},
            )

    def _retries_in_zone(self, conn: Connection, name: str, label: str, name_of_zone: str) -> bool:
        """Transiently failed deliveries of this occurrence to customers in this zone, with
        attempts left."""
        c = customers.c
        found = conn.execute(
            select(deliveries.c.id)
            .join(customers, c.id == deliveries.c.customer_id)
            .where(
                deliveries.c.send_key == scheduled_key(name, label),
                deliveries.c.status == "failed",
                deliveries.c.retryable.is_(True),
                deliveries.c.attempts < MAX_ATTEMPTS,
                func.coalesce(c.timezone, self.org_zone) == name_of_zone,
            )
            .limit(1)
        ).first()
        return found is not None

    def _close_if_settled(self, occurrence_id: int | None, zones: list[str], now: datetime) -> None:
        """A local-time occurrence is `done` once every customer zone has been sent to (or
        `missed` when every zone was too late): until then it stays `running`, zone by zone.
        A zone that appears later (a new customer's) still gets it when due there."""
        if occurrence_id is None:
            return
        z = occurrence_zones.c
        with write_transaction(self.engine) as conn:
            settled = {
                str(status): int(count)
                for status, count in conn.execute(
                    select(z.status, func.count())
                    .where(
                        z.occurrence_id == occurrence_id,
                        z.zone.in_(zones),
                        z.status.in_(("done", "missed")),
                    )
                    .group_by(z.status)
                )
            }
            if sum(settled.values()) < len(zones):
                return
            conn.execute(
                update(occurrences)
                .where(occurrences.c.id == occurrence_id, occurrences.c.status == "running")
                .values(status="done" if settled.get("done") else "missed", finished_at=now)
            )

    def _finish_zones(self, occurrence_id: int | None, names: list[str]) -> None:
        if occurrence_id is None:
            return
        with write_transaction(self.engine) as conn:
            conn.execute(
                update(occurrence_zones)
                .where(
                    occurrence_zones.c.occurrence_id == occurrence_id,
                    occurrence_zones.c.zone.in_(names),
                    occurrence_zones.c.run_id == self.run_id,
                )
                .values(status="done")
            )
