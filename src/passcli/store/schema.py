"""The store's tables, in SQLAlchemy Core.

Shaped for segment speed (see docs/store.md): instants are integer UTC seconds, child tables
hold the customer's external id (no segment joins `customers` just to return ids), numeric
event properties live in `event_numbers` so sums and comparisons never parse JSON, and the
indexes are covering indexes shaped like the segment queries.

Core rather than ORM: every read and write is set-based, and the ORM's import cost would be
paid by every cron-started `run-due`.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

from passcli.store.types import UtcInstant, json_type

# Stable constraint names, so migrations (and SQLite batch mode) can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# An autoincrementing 64-bit key; SQLite only autoincrements INTEGER PRIMARY KEY (the rowid).
RowId = BigInteger().with_variant(Integer(), "sqlite")

# The customer's own fields (besides `attributes`): import columns, built-in segment
# attributes, and what `customer show` lists.
CUSTOMER_FIELDS = (
    "id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "timezone",
    "created_at",
    "email_opt_in",
    "sms_opt_in",
)

customers = Table(
    "customers",
    metadata,
    Column("id", String, primary_key=True),
    Column("email", String),
    Column("phone", String),
    Column("first_name", String),
    Column("last_name", String),
    Column("timezone", String),
    Column("created_at", UtcInstant),
    Column("email_opt_in", Boolean, nullable=False),
    Column("sms_opt_in", Boolean, nullable=False),
    # Who last set consent on a channel: NULL or "import" may be overridden by a later
    # import; "person" (unsubscribe link, SMS keyword) and "carrier" (error 21610, bounce)
    # may not. The full history is in consent_changes.
    Column("email_consent_source", String),
    Column("sms_consent_source", String),
    Column("attributes", json_type(), nullable=False),
    Index("ix_customers_email", "email"),
    Index("ix_customers_phone", "phone"),
)

consent_changes = Table(
    "consent_changes",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("customer_id", String, ForeignKey("customers.id"), nullable=False),
    Column("channel", String, nullable=False),
    Column("opted_in", Boolean, nullable=False),
    Column("source", String, nullable=False),
    Column("at", UtcInstant, nullable=False),
    Column("detail", Text),
    Index("ix_consent_changes_customer", "customer_id", "at"),
)

items = Table(
    "items",
    metadata,
    Column("id", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("duration_days", Integer),
)

purchases = Table(
    "purchases",
    metadata,
    Column("id", String, primary_key=True),
    Column("customer_id", String, ForeignKey("customers.id"), nullable=False),
    Column("item", String, ForeignKey("items.id"), nullable=False),
    Column("channel", String),
    Column("purchased_at", UtcInstant, nullable=False),
    Column("expires_at", UtcInstant),
    Column("status", String, nullable=False),
    Column("amount", Float),
    # pass-participants, prize holders; purchased_at because purchases after now do not count
    Index("ix_purchases_item_customer", "item", "customer_id", "purchased_at"),
    # days_since_purchase: a range on purchased_at
    Index(
        "ix_purchases_item_purchased",
        "item",
        "purchased_at",
        "status",
        "expires_at",
        "customer_id",
    ),
    # expiration, active holders
    Index(
        "ix_purchases_item_status_expires",
        "item",
        "status",
        "expires_at",
        "customer_id",
        "purchased_at",
    ),
    # one customer's purchases: customer show, pass variables in messages, holding checks.
    # Its equality columns lead, so SQLite picks it for per-customer probes even before
    # ANALYZE (with fewer, it preferred scanning ix_purchases_item_status_expires).
    Index(
        "ix_purchases_customer",
        "customer_id",
        "item",
        "status",
        "expires_at",
        "purchased_at",
    ),
)

redemptions = Table(
    "redemptions",
    metadata,
    Column("id", String, primary_key=True),
    Column("customer_id", String, ForeignKey("customers.id"), nullable=False),
    Column("pass", String, nullable=False),
    Column("location", String),
    Column("redeemed_at", UtcInstant, nullable=False),
    Column("points", Integer, nullable=False),
    # redemption counts and point sums per holder, with an optional window
    Index("ix_redemptions_pass_customer", "pass", "customer_id", "redeemed_at", "points"),
    # one customer's redemptions (customer show); on PostgreSQL also the "no redemption of
    # this pass yet" probe, index-only with pass and points in its leaves (migration 0007)
    Index(
        "ix_redemptions_customer",
        "customer_id",
        "redeemed_at",
        postgresql_include=["pass", "points"],
    ),
)

events = Table(
    "events",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("message_id", String, nullable=False, unique=True),
    Column("customer_id", String, ForeignKey("customers.id"), nullable=False),
    Column("event", String, nullable=False),
    Column("ts", UtcInstant, nullable=False),
    Column("received_at", UtcInstant, nullable=False),
    Column("properties", json_type(), nullable=False),
    # counts in a window: candidates by time
    Index("ix_events_event_ts_customer", "event", "ts", "customer_id"),
    # counts per customer (probes), customer show, journeys waiting on an event
    Index("ix_events_event_customer_ts", "event", "customer_id", "ts"),
    Index("ix_events_customer_ts", "customer_id", "ts"),
)

# Numeric top-level properties of events, typed, so that `sum: {property: revenue}` and
# numeric `where` filters read an index instead of parsing JSON (LIMITS.md: 2-15x). Keyed by
# the event's message_id, so the importer writes both tables without reading ids back.
event_numbers = Table(
    "event_numbers",
    metadata,
    Column("message_id", String, ForeignKey("events.message_id"), primary_key=True),
    Column("name", String, primary_key=True),
    Column("customer_id", String, nullable=False),
    Column("event", String, nullable=False),
    Column("ts", UtcInstant, nullable=False),
    Column("value", Float, nullable=False),
    Index("ix_event_numbers_lookup", "event", "name", "customer_id", "ts", "value"),
)

# -- delivery ---------------------------------------------------------------------------------

# One process that claims work (a `send`, a `run-due`), holding a lease it renews by the wall
# clock. A `sending` delivery whose run stopped renewing becomes `unknown` (SPEC §6).
runs = Table(
    "runs",
    metadata,
    Column("id", String, primary_key=True),
    Column("command", String, nullable=False),
    Column("started_at", UtcInstant, nullable=False),
    Column("heartbeat_at", UtcInstant, nullable=False),
    Column("finished_at", UtcInstant),
    Column("host", String),
    Column("pid", Integer),
)

# One occurrence of a message: a manual send, or a scheduled instant (UTC) or local wall time.
occurrences = Table(
    "occurrences",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("message", String, nullable=False),
    Column("kind", String, nullable=False),  # manual | scheduled
    Column("occurrence", String, nullable=False),  # 2026-11-22T16:00:00Z or 2026-11-22T09:00
    Column("status", String, nullable=False),  # running | done | missed
    Column("run_id", String, ForeignKey("runs.id")),
    Column("fingerprint", String),
    Column("due_at", UtcInstant),
    Column("started_at", UtcInstant),
    Column("finished_at", UtcInstant),
    Column("counts", json_type()),
    UniqueConstraint("message", "kind", "occurrence", name="uq_occurrences_message_kind"),
    Index("ix_occurrences_status", "status", "message"),
)

# The delivery ledger: one row per (send key, recipient), whatever the kind of send, so that a
# recipient never gets one occurrence twice on any channel, whatever runs at once or crashes.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("send_key", String, nullable=False),
    Column("recipient", String, nullable=False),  # customer id, or "sms:+1..." / "email:..."
    Column("kind", String, nullable=False),  # message | journey | reply | test
    Column("message", String),
    Column("occurrence_id", RowId, ForeignKey("occurrences.id")),
    Column("occurrence", String),
    Column("customer_id", String, ForeignKey("customers.id")),
    Column("channel", String, nullable=False),
    Column("address", String, nullable=False),
    # pending (planned, waiting for a worker) | queued (claimed by a run) | sending (handed
    # to its transport, committed first) | sent | failed | unknown
    Column("status", String, nullable=False),
    Column("attempts", Integer, nullable=False),  # transport attempts, counted at each claim
    # A failed delivery is tried again by a later run only while this holds: a transient
    # error (connection refused, SMTP 4xx, HTTP 429/5xx) and the customer still eligible.
    Column("retryable", Boolean, nullable=False, server_default=false()),
    Column("run_id", String, ForeignKey("runs.id")),
    Column("provider_id", String),
    Column("error", Text),
    Column("fingerprint", String),
    Column("created_at", UtcInstant, nullable=False),
    Column("updated_at", UtcInstant, nullable=False),
    Column("sent_at", UtcInstant),
    # The rendered message (JSON: subject, body, html) from planning until an outcome is
    # recorded; cleared then: the ledger records who got what when, not the content.
    Column("payload", Text),
    # What the carrier reported for a sent text (Twilio status callbacks): the latest status
    # in Twilio's order (queued, sent, delivered / undelivered / failed...), its error code,
    # and when it arrived. Never changes `status`: caps count the send whatever the carrier says.
    Column("carrier_status", String),
    Column("carrier_error", String),
    Column("carrier_status_at", UtcInstant),
    # A delivery held by quiet hours (status `held`, SPEC §11): released by the first run-due
    # at or after `hold_until`, unless that is after `hold_deadline` (occurrence + misfire_grace).
    Column("hold_until", UtcInstant),
    Column("hold_deadline", UtcInstant),
    UniqueConstraint("send_key", "recipient", name="uq_deliveries_send_key_recipient"),
    # once_per_customer: "has this customer had this message?"
    Index("ix_deliveries_message_customer", "message", "customer_id", "status"),
    Index("ix_deliveries_customer", "customer_id", "created_at"),
    Index("ix_deliveries_status_run", "status", "run_id"),
    Index("ix_deliveries_occurrence", "occurrence_id", "status"),
    # A status callback names its delivery by Twilio's MessageSid.
    Index("ix_deliveries_provider_id", "provider_id"),
    # The next batch of a send's queue: small, since rows leave it as workers claim them.
    Index(
        "ix_deliveries_pending",
        "send_key",
        "id",
        sqlite_where=text("status = 'pending'"),
        postgresql_where=text("status = 'pending'"),
    ),
    # Held deliveries whose quiet hours are over: few, found without walking the ledger.
    Index(
        "ix_deliveries_held",
        "hold_until",
        sqlite_where=text("status = 'held'"),
        postgresql_where=text("status = 'held'"),
    ),
)

# Rate limits shared by every worker and process (SPEC §11): per transport, the instant
# (epoch seconds, by the wall clock) from which the next send may start.
rate_slots = Table(
    "rate_slots",
    metadata,
    Column("transport", String, primary_key=True),
    Column("next_at", Float, nullable=False),
)

# Local-time occurrences are due zone by zone: one row per (occurrence, zone) once the first
# run-due at or after its wall time there has dispatched it, or found it too late (missed).
occurrence_zones = Table(
    "occurrence_zones",
    metadata,
    Column("occurrence_id", RowId, ForeignKey("occurrences.id"), primary_key=True),
    Column("zone", String, primary_key=True),
    Column("status", String, nullable=False),  # running | done | missed
    Column("run_id", String, ForeignKey("runs.id")),
    Column("due_at", UtcInstant, nullable=False),
    Column("at", UtcInstant, nullable=False),
)


# -- Groups, inbound SMS and offers (groups.yaml, SPEC §8 and §9) ------------------------------

PENDING_MEMBER = text("customer_id IS NULL")
UNMATCHED = text("customer_id IS NULL")

# Members of manual and subscription groups (membership groups are computed from purchases).
# A row added by email or phone that matches no customer yet is pending (customer_id NULL,
# `address` the email or E.164 phone) until a customer with that address is imported.
group_members = Table(
    "group_members",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("group_name", String, nullable=False),
    Column("customer_id", String, ForeignKey("customers.id")),
    Column("address", String),  # how it was added: an email (lower case) or a phone
    Column("source", String, nullable=False),  # manual | file | keyword
    Column("added_at", UtcInstant, nullable=False),
    UniqueConstraint("group_name", "customer_id", name="uq_group_members_group_name"),
    # `group: NAME` conditions: is this customer a member? (and every group of a customer)
    Index("ix_group_members_customer", "customer_id", "group_name"),
    # one pending row per group and address; found by address when customers are imported
    Index(
        "uq_group_members_pending",
        "group_name",
        "address",
        unique=True,
        sqlite_where=PENDING_MEMBER,
        postgresql_where=PENDING_MEMBER,
    ),
    Index(
        "ix_group_members_pending_address",
        "address",
        sqlite_where=PENDING_MEMBER,
        postgresql_where=PENDING_MEMBER,
    ),
)

# Every inbound SMS, as received. customer_id is NULL while the phone matches no customer;
# importing such a customer replays its messages (opt-outs, opt-ins, joins, events) in order.
inbound_messages = Table(
    "inbound_messages",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("provider_id", String, unique=True),  # Twilio's MessageSid: a retried webhook once
    Column("phone", String, nullable=False),
    Column("body", Text, nullable=False),
    Column("keyword", String, nullable=False),  # the keyword matched, upper case, or ""
    Column("action", String, nullable=False),  # stop | start | help | join | none
    Column("group_name", String),
    Column("customer_id", String, ForeignKey("customers.id")),
    Column("received_at", UtcInstant, nullable=False),
    Index("ix_inbound_messages_customer", "customer_id", "received_at"),
    Index(
        "ix_inbound_messages_unmatched_phone",
        "phone",
        sqlite_where=UNMATCHED,
        postgresql_where=UNMATCHED,
    ),
)

# One row per use of an offer; a use with N attendees counts N against the usage limit.
offer_uses = Table(
    "offer_uses",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("offer", String, nullable=False),
    Column("customer_id", String, ForeignKey("customers.id"), nullable=False),
    Column("attendees", Integer, nullable=False),
    Column("used_at", UtcInstant, nullable=False),
    # a customer's uses of an offer in a period; `offer:` conditions per offer
    Index("ix_offer_uses_offer_customer", "offer", "customer_id", "used_at", "attendees"),
    Index("ix_offer_uses_customer", "customer_id", "used_at"),
)


# -- Audience sync (`segment diff` and `segment sync`, SPEC §10) --------------------------------

# One row per synced segment: how many syncs have succeeded (part of each event's messageId,
# so a retried sync sends the same ids and a later change new ones), when the last one did,
# and how many members its snapshot holds.
segment_syncs = Table(
    "segment_syncs",
    metadata,
    Column("segment", String, primary_key=True),
    Column("generation", Integer, nullable=False),
    Column("synced_at", UtcInstant, nullable=False),
    Column("members", Integer, nullable=False),
)

# The members of a segment as of its last successful sync; diffs compare the segment's
# query with these rows (EXCEPT both ways), in the store.
segment_snapshots = Table(
    "segment_snapshots",
    metadata,
    Column("segment", String, ForeignKey("segment_syncs.segment"), primary_key=True),
    Column("customer_id", String, ForeignKey("customers.id"), primary_key=True),
)


# -- Journeys (journeys.yaml, SPEC §7) ----------------------------------------------------------

# Each journey run-due has seen: when first (entry slots and event entry start then), and
# when it disappeared from journeys.yaml (its customers were then recorded as exited).
journey_states = Table(
    "journey_states",
    metadata,
    Column("journey", String, primary_key=True),
    Column("first_seen_at", UtcInstant, nullable=False),
    Column("removed_at", UtcInstant),
)

# The entry slots of scheduled journeys, per time zone for local-time ones: whoever inserts
# the row runs that slot's entry (a run that finds it taken leaves the slot alone).
journey_slots = Table(
    "journey_slots",
    metadata,
    Column("journey", String, primary_key=True),
    Column("slot", String, primary_key=True),  # 2026-11-22T12:00 (a wall time)
    Column("zone", String, primary_key=True),  # the zone it was due in ("" when not local)
    Column("at", UtcInstant, nullable=False),  # when it was taken
)

# One row per customer and entry into a journey: where they are, and when to look again.
journey_entries = Table(
    "journey_entries",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("journey", String, nullable=False),
    Column("customer_id", String, ForeignKey("customers.id"), nullable=False),
    Column("number", Integer, nullable=False),  # 1 for the first entry, 2 after a re-entry...
    Column("status", String, nullable=False),  # active | done | exited
    Column("step", String),  # the step to run next (a delay or wait: the one under way)
    Column("wake_at", UtcInstant),  # look again then: a delay's end, a wait's deadline
    Column("waiting_since", UtcInstant),  # a wait's start: events from then on count
    Column("base_at", UtcInstant),  # what the next delay or wait counts from
    Column("entered_at", UtcInstant, nullable=False),
    Column("updated_at", UtcInstant, nullable=False),
    Column("ended_at", UtcInstant),
    # completed | ended (an `end` step) | timed_out | exit_when | removed | manual
    Column("end_reason", String),
    Column("converted_at", UtcInstant),
    Column("run_id", String),  # the run advancing it right now (runs.id)
    UniqueConstraint("journey", "customer_id", "number", name="uq_journey_entries_journey"),
    # due entries: a delay's end or a wait's deadline reached
    Index("ix_journey_entries_due", "journey", "status", "wake_at"),
    # entries at a step: those waiting for an event, `journey show`
    Index("ix_journey_entries_step", "journey", "step", "status"),
    Index("ix_journey_entries_customer", "customer_id", "journey", "number"),
)

# What happened at each step of each entry (once: a step runs at most once per entry), for
# `journey show` and the reports.
journey_steps = Table(
    "journey_steps",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("entry_id", RowId, ForeignKey("journey_entries.id"), nullable=False),
    Column("journey", String, nullable=False),
    Column("step", String, nullable=False),
    Column("kind", String, nullable=False),  # send | delay | wait_for | split | ...
    # sent | failed | unknown | skipped | done | resumed | timed_out
    Column("outcome", String, nullable=False),
    Column("reason", String),  # a skip's reason, the step a split chose, ...
    Column("send_key", String),  # a send step's ledger key (recipient: the customer id)
    Column("at", UtcInstant, nullable=False),
    UniqueConstraint("entry_id", "step", name="uq_journey_steps_entry_id"),
    Index("ix_journey_steps_journey", "journey", "step", "outcome"),
)
