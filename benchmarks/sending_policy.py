"""The sending policies send_bench.py compares (--policy), and the ledger state they run on.

`none` writes no policy.yaml; `caps` writes two frequency caps, one of them for messages
tagged promo (the benchmark's message is); `caps+history` also gives every customer two
sends in the week before the benchmark, so that the cap query has rows to count. Every
policy starts each run from the same ledger: the rows a run added are deleted after it
(outside the timing), otherwise the caps would stop the next run's sends.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, case, false, func, literal, or_, select

from passcli.store.engine import make_engine
from passcli.store.schema import customers, deliveries

POLICIES = ("none", "caps", "caps+history")

CAPS = """\
frequency_caps:
  - {channel: any, max: 3, per: {days: 7}}
  - {channel: email, max: 1, per: {days: 1}, tags: [promo]}
"""

# Two sends per customer within the caps' widest window, neither of which stops the
# benchmark's send: a digest 6 days before (untagged: counts for the weekly cap only) and an
# earlier promo 3 days before (counts for the weekly cap, outside the daily promo cap).
HISTORY = (("weekly-digest", timedelta(days=6)), ("news", timedelta(days=3)))


def write_policy(project: Path, policy: str) -> None:
    if policy != "none":
        (project / "policy.yaml").write_text(CAPS)


def tag_promo(messages_yaml: str, message: str) -> str:
    """The messages.yaml text with `message` tagged promo."""
    return messages_yaml.replace(f"  {message}:\n", f"  {message}:\n    tags: [promo]\n", 1)


class Ledger:
    """The benchmark store's deliveries: seeded with history, reset after each run."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = make_engine(url)
        self.postgres = self.engine.dialect.name == "postgresql"
        self.last_id = self._max_id()

    def seed_history(self, now: datetime) -> int:
        """Insert HISTORY for every customer with an email (by email) or else a phone (by
        SMS), one INSERT ... SELECT per send; the rows inserted."""
        c = customers.c
        columns = [
            "send_key",
            "recipient",
            "kind",
            "message",
            "occurrence",
            "customer_id",
            "channel",
            "address",
            "status",
            "attempts",
            "retryable",
            "created_at",
            "updated_at",
            "sent_at",
        ]
        with self.engine.begin() as conn:
            for message, before in HISTORY:
                at = now - before
                occurrence = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                instant = literal(int(at.timestamp()))
                rows = select(
                    literal(f"history:{message}@{occurrence}"),
                    c.id,
                    literal("message"),
                    literal(message),
                    literal(occurrence),
                    c.id,
                    case((c.email.is_not(None), "email"), else_="sms"),
                    func.coalesce(c.email, c.phone),
                    literal("sent"),
                    literal(1),
                    false(),
                    instant,
                    instant,
                    instant,
                ).where(or_(c.email.is_not(None), c.phone.is_not(None)))
                conn.execute(deliveries.insert().from_select(columns, rows))
            inserted = conn.execute(
                select(func.count()).where(deliveries.c.id > self.last_id)
            ).scalar_one()
        self.last_id = self._max_id()
        self._tidy()
        return int(inserted)

    def reset(self) -> int:
        """Delete the deliveries added since the history (or since the start); the rows."""
        with self.engine.begin() as conn:
            gone = conn.execute(deliveries.delete().where(deliveries.c.id > self.last_id))
        if gone.rowcount:
            self._tidy()
        self.engine.dispose()
        return gone.rowcount

    def _max_id(self) -> int:
        with self.engine.connect() as conn:
            found = conn.execute(select(func.coalesce(func.max(deliveries.c.id), 0))).scalar()
        self.engine.dispose()
        return int(found or 0)

    def _tidy(self) -> None:
        """On PostgreSQL, what autovacuum would do by itself sooner or later: statistics for
        the planner and no dead rows left for the next run's index scans. (passcli never
        ANALYZEs the ledger on SQLite, so neither does this.) Then no connection is kept:
        send_bench.py counts the CPU of every server process on the database during a run,
        since each started."""
        if self.postgres:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE deliveries")
        self.engine.dispose()

    def close(self) -> None:
        self.engine.dispose()
