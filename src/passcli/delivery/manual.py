"""`passcli send`: one manual occurrence of a message, now."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo

from sqlalchemy import Connection, Engine, select, update

from passcli.branding import Branding
from passcli.delivery.dispatch import Dispatcher, Occurrence, SendReport
from passcli.delivery.lease import Lease
from passcli.delivery.ledger import SendKey, WallClock, expire_stale, insert_ignoring_conflicts
from passcli.delivery.queue import has_pending
from passcli.delivery.transports import Sleep, Transports
from passcli.delivery.workers import Workers
from passcli.errors import UsageError
from passcli.messages.fingerprint import fingerprint
from passcli.policy.rules import SendRules
from passcli.project import Project
from passcli.store.engine import write_transaction
from passcli.store.schema import occurrences
from passcli.timeutil import iso_utc


def send_now(
    engine: Engine,
    project: Project,
    name: str,
    *,
    now: datetime,
    tz: tzinfo,
    branding: Branding,
    transports: Transports,
    wall_clock: WallClock,
    sleep: Sleep,
    dry_run: bool = False,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
    workers: Workers | None = None,
) -> SendReport:
    """Send (or dry-run) message `name` to its audience as one manual occurrence at `now`.

    The occurrence is named by `now`: running the same command twice at the same --now
    reaches nobody twice, whatever the message's once_per_customer."""
    spec = project.messages.get(name)
    if spec is None:
        raise UsageError(f"unknown message {name!r}")
    label = iso_utc(now)
    send = SendKey(
        key=f"manual:{name}:{label}",
        kind="message",
        message=name,
        occurrence=label,
        fingerprint=fingerprint(spec),
    )
    dispatcher = Dispatcher(
        engine=engine,
        segments=project.segments,
        branding=branding,
        transports=transports,
        tz=tz,
        sleep=sleep,
        progress=progress,
        workers=workers or Workers(),
        rules=SendRules.of(project, tz),
    )
    if dry_run:
        return dispatcher.deliver(name, spec, Occurrence(send, label), now, True, limit)
    if not branding.secret_key:
        raise UsageError(
            "PASSCLI_SECRET_KEY is required to send (it signs unsubscribe links); "
            "`passcli init` writes one into the project's .env"
        )
    with Lease(engine, "send", wall_clock) as lease:
        with write_transaction(engine) as conn:
            expire_stale(conn, wall_clock())
            occurrence_id = _record_occurrence(conn, name, label, send.fingerprint, lease.id, now)
        send = SendKey(
            send.key, send.kind, send.message, occurrence_id, send.occurrence, send.fingerprint
        )
        dispatcher.run_id = lease.id
        try:
            report = dispatcher.deliver(name, spec, Occurrence(send, label), now, False, limit)
        finally:
            transports.close()
        with write_transaction(engine) as conn:
            values: dict[str, object] = {"counts": report.counts()}
            if not has_pending(conn, send.key):
                values.update(status="done", finished_at=now)
            conn.execute(
                update(occurrences).where(occurrences.c.id == occurrence_id).values(values)
            )
    return report


def _record_occurrence(
    conn: Connection, name: str, label: str, print_: str | None, run_id: str, now: datetime
) -> int:
    insert_ignoring_conflicts(
        conn,
        occurrences,
        [
            {
                "message": name,
                "kind": "manual",
                "occurrence": label,
                "status": "running",
                "run_id": run_id,
                "fingerprint": print_,
                "due_at": now,
                "started_at": now,
            }
        ],
    )
    found = conn.execute(
        select(occurrences.c.id).where(
            occurrences.c.message == name,
            occurrences.c.kind == "manual",
            occurrences.c.occurrence == label,
        )
    ).scalar_one()
    return int(found)
