"""One writer per import kind: takes normalised rows in batches and writes them.

A writer may still reject a row that parsed (an unknown customer), so it gets the rows
with their line numbers and the report.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import Connection, select, update

from passcli.importing.bulk import Bulk, Record
from passcli.importing.report import ImportReport
from passcli.importing.rows import CustomerPatch, numeric_properties
from passcli.importing.upsert import upsert
from passcli.store.schema import (
    consent_changes,
    customers,
    event_numbers,
    events,
    items,
    purchases,
    redemptions,
)

DAY = 86_400

# Consent set by a person (unsubscribe link, SMS keyword), a carrier (error 21610) or a mail
# provider (a hard bounce or complaint: `passcli import bounces`) is never overridden by an
# import or identify call (SPEC §2).
LOCKED_CONSENT_SOURCES = frozenset({"person", "carrier", "bounce"})
DEFAULT_OPT_IN = {"email_opt_in": True, "sms_opt_in": False}

Numbered = list[tuple[int, Any]]


class Writer(Protocol):
    def write(self, rows: Numbered) -> None: ...


def new_customer(customer_id: str) -> Record:
    return {
        "id": customer_id,
        "email": None,
        "phone": None,
        "first_name": None,
        "last_name": None,
        "timezone": None,
        "created_at": None,
        "email_opt_in": True,
        "sms_opt_in": False,
        "email_consent_source": None,
        "sms_consent_source": None,
        "attributes": {},
    }


def merge_customer(old: Record | None, patch: CustomerPatch) -> Record:
    """The customer after applying an import row or identify call to what the store holds."""
    new = dict(old) if old is not None else new_customer(patch.id)
    for column, value in patch.values.items():
        if column in DEFAULT_OPT_IN:
            source_column = column.replace("_opt_in", "_consent_source")
            if new[source_column] in LOCKED_CONSENT_SOURCES:
                continue
            new[column] = DEFAULT_OPT_IN[column] if value is None else value
            new[source_column] = "import"
        else:
            new[column] = value
    if patch.attributes or patch.removed_attributes:
        attributes = dict(new["attributes"])
        attributes.update(patch.attributes)
        for name in patch.removed_attributes:
            attributes.pop(name, None)
        new["attributes"] = attributes
    return new


class CustomerWriter:
    """Upserts customers; an opt-in that an import changes on an existing customer is
    recorded in `consent_changes` (source `import`), so a customer's consent has its whole
    history. The opt-ins a customer is created with are the import's (consent source
    `import`), not a change."""

    def __init__(self, conn: Connection, report: ImportReport, at: int) -> None:
        self.bulk = Bulk(conn)
        self.report = report
        self.at = at

    def write(self, rows: Numbered) -> None:
        changes: list[Record] = []

        def merge(old: Record | None, patch: CustomerPatch) -> Record:
            new = merge_customer(old, patch)
            if old is not None:
                for column in DEFAULT_OPT_IN:
                    if new[column] != old[column]:
                        changes.append(
                            {
                                "customer_id": new["id"],
                                "channel": column.removesuffix("_opt_in"),
                                "opted_in": new[column],
                                "source": "import",
                                "at": self.at,
                                "detail": self.report.file,
                            }
                        )
            return new

        counts = upsert(self.bulk, customers, [patch for _, patch in rows], merge)
        self.bulk.insert(consent_changes, changes)
        self.report.count(counts.inserted, counts.updated, counts.skipped)


class ItemWriter:
    def __init__(self, conn: Connection, report: ImportReport, at: int) -> None:
        self.bulk = Bulk(conn)
        self.report = report

    def write(self, rows: Numbered) -> None:
        counts = upsert(self.bulk, items, [record for _, record in rows])
        self.report.count(counts.inserted, counts.updated, counts.skipped)


class KnownCustomers:
    """Which customer ids exist, remembered across the batches of one import (customers are
    not deleted during it): ids seen once cost no further query. Bounded, so memory does not
    grow past MAX_REMEMBERED ids whatever the file's size."""

    MAX_REMEMBERED = 2_000_000

    def __init__(self) -> None:
        self.ids: set[str] = set()

    def of(self, bulk: Bulk, ids: set[str]) -> set[str]:
        unknown = ids - self.ids
        found = {row["id"] for row in bulk.select_in(customers, "id", unknown, ["id"])}
        self.add(found)
        return (ids - unknown) | found

    def add(self, ids: set[str]) -> None:
        if len(self.ids) + len(ids) > self.MAX_REMEMBERED:
            self.ids.clear()
        self.ids |= ids


def keep_known_customers(
    bulk: Bulk, known_ids: KnownCustomers, rows: Numbered, report: ImportReport
) -> list[Record]:
    """The records whose customer exists; the others are rejected (SPEC §2)."""
    known = known_ids.of(bulk, {record["customer_id"] for _, record in rows})
    kept: list[Record] = []
    for line, record in rows:
        if record["customer_id"] in known:
            kept.append(record)
        else:
            report.reject(line, f"unknown customer {record['customer_id']!r}")
    return kept


class PurchaseWriter:
    """Creates items first seen here as products and derives missing expiries (SPEC §2)."""

    def __init__(self, conn: Connection, report: ImportReport, at: int) -> None:
        self.bulk = Bulk(conn)
        self.report = report
        self.known = KnownCustomers()
        self.durations: dict[str, int | None] = {
            row.id: row.duration_days
            for row in conn.execute(select(items.c.id, items.c.duration_days))
        }

    def write(self, rows: Numbered) -> None:
        records = keep_known_customers(self.bulk, self.known, rows, self.report)
        unseen = {r["item"] for r in records} - self.durations.keys()
        if unseen:
            new_items = [
                {"id": i, "name": i, "kind": "product", "duration_days": None}
                for i in sorted(unseen)
            ]
            self.bulk.insert(items, new_items)
            self.durations.update(dict.fromkeys(unseen))
        for record in records:
            if record["expires_at"] is None:
                days = self.durations[record["item"]]
                if days is not None:
                    record["expires_at"] = record["purchased_at"] + days * DAY
        counts = upsert(self.bulk, purchases, records)
        self.report.count(counts.inserted, counts.updated, counts.skipped)


class RedemptionWriter:
    def __init__(self, conn: Connection, report: ImportReport, at: int) -> None:
        self.bulk = Bulk(conn)
        self.report = report
        self.known = KnownCustomers()

    def write(self, rows: Numbered) -> None:
        records = keep_known_customers(self.bulk, self.known, rows, self.report)
        counts = upsert(self.bulk, redemptions, records)
        self.report.count(counts.inserted, counts.updated, counts.skipped)


class EventWriter:
    """Identify calls upsert customers; track calls insert events once per messageId, and
    create the customer of an unknown userId with just that id, as Segment does."""

    def __init__(self, conn: Connection, report: ImportReport, at: int) -> None:
        self.bulk = Bulk(conn)
        self.report = report
        self.customers = CustomerWriter(conn, report, at)
        self.known = KnownCustomers()

    def write(self, rows: Numbered) -> None:
        """Apply a batch as if row by row in file order, in a few statements: customers
        (identify traits, and a bare customer for a track's unknown userId, where each
        stands in the file), then the new events, then their numeric properties."""
        identified = {row.id for _, row in rows if isinstance(row, CustomerPatch)}
        patches = [
            (line, row)
            if isinstance(row, CustomerPatch)
            else (line, CustomerPatch(row["customer_id"], {}, {}, counted=False))
            for line, row in rows
            if isinstance(row, CustomerPatch) or row["customer_id"] in identified
        ]
        if patches:
            self.customers.write(patches)
        others = {
            row["customer_id"]
            for _, row in rows
            if not isinstance(row, CustomerPatch) and row["customer_id"] not in identified
        }
        missing = others - self.known.of(self.bulk, others)
        if missing:
            self.bulk.insert(customers, [new_customer(c) for c in sorted(missing)])
            self.known.add(missing)
        tracks: list[Record] = [row for _, row in rows if not isinstance(row, CustomerPatch)]
        if not tracks:
            return
        fresh: dict[str, Record] = {}
        for record in tracks:
            fresh.setdefault(record["message_id"], record)
        seen = self.bulk.select_in(events, "message_id", fresh, ["message_id"])
        for row in seen:
            del fresh[row["message_id"]]
        new = list(fresh.values())
        self.report.count(inserted=len(new), skipped=len(tracks) - len(new))
        self.bulk.insert(events, new)
        numbers = [
            {
                "message_id": record["message_id"],
                "name": name,
                "customer_id": record["customer_id"],
                "event": record["event"],
                "ts": record["ts"],
                "value": value,
            }
            for record in new
            for name, value in numeric_properties(record["properties"])
        ]
        self.bulk.insert(event_numbers, numbers)


class BounceWriter:
    """Bounces and complaints from the mail provider (SPEC §11). A hard bounce or a
    complaint makes every customer with that email unreachable by email: opt-in false with
    consent source `bounce`, which no import overrides, and a consent change (source `bounce`
    or `complaint`, detail the reason). A soft bounce is counted and changes nothing. An
    email no customer has is listed in the report, not rejected. Customers already opted out
    for good (bounced, or unsubscribed themselves) are left as they are, so importing the
    same file twice changes nothing."""

    def __init__(self, conn: Connection, report: ImportReport, at: int) -> None:
        self.bulk = Bulk(conn)
        self.conn = conn
        self.report = report

    def write(self, rows: Numbered) -> None:
        emails = {record["email"] for _, record in rows if record["type"] != "soft"}
        holders: dict[str, list[Record]] = {}
        for row in self.bulk.select_in(
            customers, "email", emails, ["id", "email", "email_opt_in", "email_consent_source"]
        ):
            holders.setdefault(row["email"], []).append(row)
        unreachable: list[str] = []
        changes: list[Record] = []
        counts = self.report.bounces
        for line, record in rows:
            kind = record["type"]
            counts[kind] = counts.get(kind, 0) + 1
            if kind == "soft":
                self.report.count(skipped=1)
                continue
            found = holders.get(record["email"])
            if not found:
                self.report.note_unmatched(line, record["email"])
                self.report.count(skipped=1)
                continue
            fresh = [
                c
                for c in found
                if c["email_opt_in"] or c["email_consent_source"] not in LOCKED_CONSENT_SOURCES
            ]
            for customer in fresh:
                customer["email_opt_in"], customer["email_consent_source"] = False, "bounce"
                unreachable.append(customer["id"])
                changes.append(
                    {
                        "customer_id": customer["id"],
                        "channel": "email",
                        "opted_in": False,
                        "source": "bounce" if kind == "hard" else "complaint",
                        "at": record["at"],
                        "detail": record["reason"] or ("hard bounce" if kind == "hard" else kind),
                    }
                )
            self.report.count(updated=1 if fresh else 0, skipped=0 if fresh else 1)
        counts["unreachable"] = counts.get("unreachable", 0) + len(unreachable)
        if unreachable:
            self.conn.execute(
                update(customers)
                .where(customers.c.id.in_(unreachable))
                .values(email_opt_in=False, email_consent_source="bounce")
            )
        self.bulk.insert(consent_changes, changes)


WRITERS: dict[str, Callable[[Connection, ImportReport, int], Writer]] = {
    "customers": CustomerWriter,
    "items": ItemWriter,
    "purchases": PurchaseWriter,
    "redemptions": RedemptionWriter,
    "events": EventWriter,
    "bounces": BounceWriter,
}
