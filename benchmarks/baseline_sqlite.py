"""The hand-tuned baseline of LIMITS.md, standing alone in this project.

A separate SQLite database with the limit harness's tuned schema (integer unix seconds,
customer ids in child tables, a typed revenue column) and covering indexes, loaded straight
from the example files with executemany, and the six hand-written segment queries. Bounds
are computed in Python in the organisation's zone, as passcli does, so both sides answer
the same question and the benchmark checks that they write the same bytes.
"""

from __future__ import annotations

import csv
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

import orjson

from passcli.timeutil import local_date, start_of_local_day, to_epoch

SCHEMA = """
CREATE TABLE items (id TEXT PRIMARY KEY, duration_days INTEGER);
CREATE TABLE customers (
    id TEXT PRIMARY KEY, email TEXT, phone TEXT, first_name TEXT, last_name TEXT,
    timezone TEXT, created_at INTEGER, email_opt_in INTEGER, sms_opt_in INTEGER
);
CREATE TABLE purchases (
    id TEXT NOT NULL, customer_id TEXT NOT NULL, item TEXT NOT NULL, channel TEXT,
    purchased_at INTEGER NOT NULL, expires_at INTEGER, status TEXT NOT NULL, amount REAL
);
CREATE TABLE redemptions (
    id TEXT NOT NULL, customer_id TEXT NOT NULL, pass TEXT NOT NULL, location TEXT,
    redeemed_at INTEGER NOT NULL, points INTEGER NOT NULL
);
CREATE TABLE events (
    message_id TEXT NOT NULL, customer_id TEXT NOT NULL, event TEXT NOT NULL,
    ts INTEGER NOT NULL, properties TEXT NOT NULL, revenue REAL
);
"""

INDEXES = (
    "CREATE UNIQUE INDEX ux_purchases_id ON purchases(id)",
    "CREATE UNIQUE INDEX ux_redemptions_id ON redemptions(id)",
    "CREATE UNIQUE INDEX ux_events_message_id ON events(message_id)",
    "CREATE INDEX ix_purchases_item_customer ON purchases(item, customer_id)",
    "CREATE INDEX ix_purchases_item_purchased"
    " ON purchases(item, purchased_at, status, expires_at, customer_id)",
    "CREATE INDEX ix_purchases_item_status_expires"
    " ON purchases(item, status, expires_at, customer_id)",
    "CREATE INDEX ix_redemptions_pass_customer_points ON redemptions(pass, customer_id, points)",
    "CREATE INDEX ix_events_event_ts_customer ON events(event, ts, customer_id)",
    "CREATE INDEX ix_events_event_customer_ts_revenue ON events(event, customer_id, ts, revenue)",
)

QUERIES = {
    "pass-participants": "SELECT DISTINCT customer_id FROM purchases WHERE item = :explorer",
    "new-signups": """
        SELECT DISTINCT customer_id FROM purchases
        WHERE item = :explorer AND purchased_at >= :day_start AND purchased_at < :day_end
          AND status = 'active' AND expires_at > :now""",
    "expires-soon": """
        SELECT DISTINCT customer_id FROM purchases
        WHERE item = :explorer AND status = 'active'
          AND expires_at > :now AND expires_at < :soon_end""",
    "no-redemptions-yet": """
        SELECT DISTINCT p.customer_id FROM purchases p
        WHERE p.item = :explorer AND p.status = 'active' AND p.expires_at > :now
          AND NOT EXISTS (
              SELECT 1 FROM redemptions r WHERE r.pass = :explorer
                AND r.customer_id = p.customer_id)""",
    "super-users": """
        SELECT t.customer_id
        FROM (SELECT DISTINCT customer_id FROM purchases WHERE item = :tshirt) AS t
        WHERE (SELECT sum(points) FROM redemptions r
               WHERE r.pass = :explorer AND r.customer_id = t.customer_id) > 100""",
    "high-ltv": """
        WITH recent AS (
            SELECT customer_id FROM events
            WHERE event = :order_completed AND ts > :window_start AND ts <= :now
            GROUP BY customer_id HAVING count(*) > 2)
        SELECT customer_id FROM recent
        WHERE (SELECT sum(revenue) FROM events e
               WHERE e.event = :order_completed AND e.customer_id = recent.customer_id) > 300""",
}

MEMBERS = """
    SELECT c.id, c.email, c.phone, c.first_name, c.last_name
    FROM customers c JOIN ({query}) s ON s.customer_id = c.id ORDER BY c.id"""


def params(now: datetime, tz: tzinfo) -> dict[str, object]:
    today = local_date(now, tz)

    def day(offset: int) -> int:
        return to_epoch(start_of_local_day(today + timedelta(days=offset), tz))

    return {
        "now": to_epoch(now),
        "day_start": day(-2),
        "day_end": day(-1),
        "soon_end": day(30),
        "window_start": to_epoch(now) - 90 * 86_400,
        "explorer": "explorer-pass",
        "tshirt": "prize-tshirt",
        "order_completed": "Order Completed",
    }


def _csv(path: Path) -> Iterator[list[str]]:
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        yield from reader


def _lines(path: Path) -> Iterator[tuple[str]]:
    with path.open() as handle:
        for line in handle:
            yield (line,)


def build(db_path: Path, data: Path) -> float:
    """Load the example files into a fresh tuned database; returns the seconds it took."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    started = time.perf_counter()
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;" + SCHEMA)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO items VALUES (?, nullif(?, ''))",
        ((row[0], row[3]) for row in _csv(data / "items.csv")),
    )
    conn.executemany(
        "INSERT INTO customers VALUES (?, lower(nullif(?, '')), nullif(?, ''), ?, ?,"
        " nullif(?, ''), unixepoch(?), ? = 'true', ? = 'true')",
        (row[:9] for row in _csv(data / "customers.csv")),
    )
    conn.executemany(
        "INSERT INTO purchases SELECT ?1, ?2, ?3, ?4, unixepoch(?5),"
        " coalesce(unixepoch(nullif(?6, '')),"
        "          unixepoch(?5) + (SELECT duration_days FROM items WHERE id = ?3) * 86400),"
        " ?7, ?8",
        _csv(data / "purchases.csv"),
    )
    conn.executemany(
        "INSERT INTO redemptions VALUES (?, ?, ?, ?, unixepoch(?), ?)",
        _csv(data / "redemptions.csv"),
    )
    conn.executemany(
        "INSERT INTO events SELECT j ->> '$.messageId', j ->> '$.userId', j ->> '$.event',"
        " unixepoch(j ->> '$.timestamp'), j -> '$.properties', j ->> '$.properties.revenue'"
        " FROM (SELECT ? AS j) WHERE j ->> '$.type' = 'track'",
        _lines(data / "events.jsonl"),
    )
    for ddl in INDEXES:
        conn.execute(ddl)
    conn.execute("ANALYZE")
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    return time.perf_counter() - started


def export(db_path: Path, segment: str, bounds: dict[str, object], out: Path) -> int:
    """Write the segment's members as passcli's `segment export --format jsonl` does."""
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA mmap_size = 1073741824")
    columns = ("id", "email", "phone", "first_name", "last_name")
    written = 0
    dumps = orjson.dumps
    with out.open("wb") as handle:
        for row in conn.execute(MEMBERS.format(query=QUERIES[segment]), bounds):
            handle.write(dumps(dict(zip(columns, row, strict=True))) + b"\n")
            written += 1
    conn.close()
    return written
