"""The hand-tuned baseline on PostgreSQL: what a careful DBA would write, through psycopg.

The PostgreSQL counterpart of baseline_sqlite.py: a database of its own on the same server
as the passcli store, with the same tuned tables (integer unix seconds, customer ids in child
tables, a typed revenue column), loaded straight from the example files with COPY, the
indexes of passcli's schema that these queries use (src/passcli/store/schema.py, with the
revenue column where passcli has its event_numbers side table), then VACUUM ANALYZE, so the
planner has statistics and index-only scans need not visit the heap. Bounds are computed in
Python in the organisation's zone, as passcli does (baseline_sqlite.params).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import psycopg

SCHEMA = """
CREATE TABLE items (id text PRIMARY KEY, duration_days integer);
CREATE TABLE customers (
    id text NOT NULL, email text, phone text, first_name text, last_name text,
    timezone text, created_at bigint, email_opt_in boolean, sms_opt_in boolean
);
CREATE TABLE purchases (
    id text NOT NULL, customer_id text NOT NULL, item text NOT NULL, channel text,
    purchased_at bigint NOT NULL, expires_at bigint, status text NOT NULL,
    amount double precision
);
CREATE TABLE redemptions (
    id text NOT NULL, customer_id text NOT NULL, pass text NOT NULL, location text,
    redeemed_at bigint NOT NULL, points integer NOT NULL
);
CREATE TABLE events (
    message_id text NOT NULL, customer_id text NOT NULL, event text NOT NULL,
    ts bigint NOT NULL, properties jsonb NOT NULL, revenue double precision
);
"""

# The raw files, as text, in temporary tables; converted by INSERT ... SELECT below.
STAGING = {
    "items.csv": "CREATE TEMP TABLE raw_items (id text, name text, kind text, duration text)",
    "customers.csv": "CREATE TEMP TABLE raw_customers (id text, email text, phone text,"
    " first_name text, last_name text, timezone text, created_at text, email_opt_in text,"
    " sms_opt_in text, city text, birthday_month text)",
    "purchases.csv": "CREATE TEMP TABLE raw_purchases (id text, customer_id text, item text,"
    " channel text, purchased_at text, expires_at text, status text, amount text)",
    "redemptions.csv": "CREATE TEMP TABLE raw_redemptions (id text, customer_id text,"
    " pass text, location text, redeemed_at text, points text)",
    # One JSON document a line: a CSV "column" with quote and delimiter bytes JSON never has.
    "events.jsonl": "CREATE TEMP TABLE raw_events (line text)",
}
COPY_OPTIONS = {
    "events.jsonl": "(FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')",
}

EPOCH = "floor(extract(epoch FROM ({})::timestamptz))::bigint"

LOAD = (
    "INSERT INTO items SELECT id, nullif(duration, '')::integer FROM raw_items",
    "INSERT INTO customers SELECT id, lower(nullif(email, '')), nullif(phone, ''),"
    " first_name, last_name, nullif(timezone, ''), "
    + EPOCH.format("nullif(created_at, '')")
    + ", email_opt_in = 'true', sms_opt_in = 'true' FROM raw_customers",
    "INSERT INTO purchases SELECT r.id, r.customer_id, r.item, r.channel, "
    + EPOCH.format("r.purchased_at")
    + ", coalesce("
    + EPOCH.format("nullif(r.expires_at, '')")
    + ", "
    + EPOCH.format("r.purchased_at")
    + " + i.duration_days * 86400), r.status, nullif(r.amount, '')::double precision"
    " FROM raw_purchases r LEFT JOIN items i ON i.id = r.item",
    "INSERT INTO redemptions SELECT id, customer_id, pass, location, "
    + EPOCH.format("redeemed_at")
    + ", points::integer FROM raw_redemptions",
    "INSERT INTO events SELECT j ->> 'messageId', j ->> 'userId', j ->> 'event', "
    + EPOCH.format("j ->> 'timestamp'")
    + ", j -> 'properties', CASE WHEN jsonb_typeof(j -> 'properties' -> 'revenue') = 'number'"
    " THEN (j -> 'properties' ->> 'revenue')::double precision END"
    " FROM (SELECT line::jsonb AS j FROM raw_events) AS raw WHERE j ->> 'type' = 'track'",
)

# passcli's indexes (schema.py) that the six queries use, plus the keys.
INDEXES = (
    "ALTER TABLE customers ADD PRIMARY KEY (id)",
    "CREATE UNIQUE INDEX ux_purchases_id ON purchases(id)",
    "CREATE UNIQUE INDEX ux_redemptions_id ON redemptions(id)",
    "CREATE UNIQUE INDEX ux_events_message_id ON events(message_id)",
    "CREATE INDEX ix_purchases_item_customer ON purchases(item, customer_id, purchased_at)",
    "CREATE INDEX ix_purchases_item_purchased"
    " ON purchases(item, purchased_at, status, expires_at, customer_id)",
    "CREATE INDEX ix_purchases_item_status_expires"
    " ON purchases(item, status, expires_at, customer_id, purchased_at)",
    "CREATE INDEX ix_redemptions_pass_customer"
    " ON redemptions(pass, customer_id, redeemed_at, points)",
    "CREATE INDEX ix_events_event_ts_customer ON events(event, ts, customer_id)",
    # schema.py: event_numbers(event, name, customer_id, ts, value), here with name = revenue
    "CREATE INDEX ix_events_event_customer_ts_revenue ON events(event, customer_id, ts, revenue)",
)

# Each segment's members, written the way that measured fastest on this server among the
# natural shapes (a join to customers, EXISTS / NOT EXISTS on customers, IN, EXCEPT, LATERAL,
# `id = ANY(ARRAY(...))`; for no-redemptions-yet the EXISTS and ANY shapes tie). The planner
# hashes a scan of every customer to join a listing of 15k-90k ids, while
# `= ANY(ARRAY(subquery))` runs the listing once and probes the primary key with the sorted
# ids (1.2-2.3x faster there); for 437k ids the merge join wins by 1.3x.
MEMBERS = """
    SELECT c.id, c.email, c.phone, c.first_name, c.last_name
    FROM customers c JOIN ({query}) s ON s.customer_id = c.id ORDER BY c.id"""
PROBED = """
    SELECT c.id, c.email, c.phone, c.first_name, c.last_name
    FROM customers c WHERE c.id = ANY (ARRAY({query})) ORDER BY c.id"""

QUERIES = {
    "pass-participants": MEMBERS.format(
        query="SELECT DISTINCT customer_id FROM purchases WHERE item = %(explorer)s"
    ),
    "new-signups": PROBED.format(
        query="""
        SELECT customer_id FROM purchases
        WHERE item = %(explorer)s AND purchased_at >= %(day_start)s
          AND purchased_at < %(day_end)s AND status = 'active' AND expires_at > %(now)s"""
    ),
    "expires-soon": PROBED.format(
        query="""
        SELECT customer_id FROM purchases
        WHERE item = %(explorer)s AND status = 'active'
          AND expires_at > %(now)s AND expires_at < %(soon_end)s"""
    ),
    "no-redemptions-yet": """
        SELECT c.id, c.email, c.phone, c.first_name, c.last_name
        FROM customers c
        WHERE EXISTS (
              SELECT 1 FROM purchases p WHERE p.customer_id = c.id AND p.item = %(explorer)s
                AND p.status = 'active' AND p.expires_at > %(now)s)
          AND NOT EXISTS (
              SELECT 1 FROM redemptions r WHERE r.pass = %(explorer)s AND r.customer_id = c.id)
        ORDER BY c.id""",
    "super-users": PROBED.format(
        query="""
        SELECT t.customer_id
        FROM (SELECT DISTINCT customer_id FROM purchases WHERE item = %(tshirt)s) AS t
        WHERE (SELECT sum(points) FROM redemptions r
               WHERE r.pass = %(explorer)s AND r.customer_id = t.customer_id) > 100"""
    ),
    "high-ltv": PROBED.format(
        query="""
        SELECT recent.customer_id
        FROM (SELECT customer_id FROM events
              WHERE event = %(order_completed)s AND ts > %(window_start)s AND ts <= %(now)s
              GROUP BY customer_id HAVING count(*) > 2) AS recent
        WHERE (SELECT sum(revenue) FROM events e
               WHERE e.event = %(order_completed)s
                 AND e.customer_id = recent.customer_id) > 300"""
    ),
}


def connect(url: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """A psycopg connection to a libpq URL (common.libpq_url turns SQLAlchemy's into one)."""
    return psycopg.connect(url, **kwargs)


def built(url: str) -> bool:
    """Whether `build` finished on this database (it records that last)."""
    with connect(url) as conn:
        found = conn.execute("SELECT to_regclass('baseline_built')").fetchone()
    return bool(found and found[0])


def build(url: str, data: Path) -> float:
    """Load the example files into the (empty) database at `url`; returns the seconds."""
    started = time.perf_counter()
    with connect(url) as conn:
        conn.execute(SCHEMA.encode())
        for name, ddl in STAGING.items():
            conn.execute(ddl.encode())
            table = ddl.split()[3]
            header = "" if name.endswith(".jsonl") else "(FORMAT csv, HEADER)"
            options = COPY_OPTIONS.get(name, header)
            with (
                conn.cursor() as cursor,
                cursor.copy(f"COPY {table} FROM STDIN {options}".encode()) as copy,
                (data / name).open("rb") as handle,
            ):
                while chunk := handle.read(1 << 20):
                    copy.write(chunk)
        for statement in LOAD:
            conn.execute(statement.encode())
        for ddl in INDEXES:
            conn.execute(ddl.encode())
        conn.execute(b"CREATE TABLE baseline_built ()")
        conn.commit()
    with connect(url, autocommit=True) as conn:
        conn.execute(b"VACUUM (ANALYZE)")
    return time.perf_counter() - started


def export(
    conn: psycopg.Connection[Any], segment: str, bounds: dict[str, object], out: Path
) -> int:
    """Write the segment's members as passcli's `segment export --format jsonl` does."""
    columns = ("id", "email", "phone", "first_name", "last_name")
    written = 0
    dumps = orjson.dumps
    query = QUERIES[segment].encode()
    with out.open("wb") as handle, conn.cursor() as cursor:
        # Streamed in chunks (libpq 17+): the server produces rows while this writes them,
        # faster than fetching the whole result first or a server-side cursor.
        for row in cursor.stream(query, bounds, size=5000):
            handle.write(dumps(dict(zip(columns, row, strict=True))) + b"\n")
            written += 1
    conn.rollback()
    return written
