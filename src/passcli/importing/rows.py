"""Per-kind normalisers: a raw row in, a store record out (or FieldError with the reason).

Records are plain dicts keyed by column name, instants already in unix seconds, so the
loader can compare them with what the store holds and write them in batches.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from passcli.importing import fields as f
from passcli.importing.fields import FieldError
from passcli.store.schema import CUSTOMER_FIELDS

ITEM_KINDS = ("pass", "prize", "membership", "ticket", "product")
BOUNCE_TYPES = ("hard", "soft", "complaint")
PURCHASE_STATUSES = ("active", "cancelled", "refunded")

CUSTOMER_COLUMNS = CUSTOMER_FIELDS
# identify traits (Segment spec, camelCase) -> customer columns
TRAIT_COLUMNS = {
    "email": "email",
    "phone": "phone",
    "firstName": "first_name",
    "first_name": "first_name",
    "lastName": "last_name",
    "last_name": "last_name",
    "timezone": "timezone",
    "createdAt": "created_at",
    "created_at": "created_at",
    "emailOptIn": "email_opt_in",
    "email_opt_in": "email_opt_in",
    "smsOptIn": "sms_opt_in",
    "sms_opt_in": "sms_opt_in",
}

HEADERS: dict[str, tuple[str, ...]] = {
    "customers": CUSTOMER_COLUMNS,
    "items": ("id", "name", "kind", "duration_days"),
    "purchases": (
        "id",
        "customer_id",
        "item",
        "channel",
        "purchased_at",
        "expires_at",
        "status",
        "amount",
    ),
    "redemptions": ("id", "customer_id", "pass", "location", "redeemed_at", "points"),
    "bounces": ("email", "type", "at", "reason"),
}
REQUIRED_HEADERS: dict[str, tuple[str, ...]] = {
    "customers": ("id",),
    "items": ("id",),
    "purchases": ("id", "customer_id", "item", "purchased_at"),
    "redemptions": ("id", "customer_id", "pass", "redeemed_at"),
    "bounces": ("email", "type"),
}


@dataclass(frozen=True)
class RowContext:
    """What normalising a row needs to know besides the row."""

    tz: tzinfo
    region: str
    now: int
    attribute_kinds: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CustomerPatch:
    """The customer fields a row sets. Absent keys are left as they are in the store;
    `email_opt_in` / `sms_opt_in` of None mean "the default for a new customer"."""

    id: str
    values: dict[str, Any]
    attributes: dict[str, Any]
    removed_attributes: tuple[str, ...] = ()
    # False for the "make sure this customer exists" patch of a track call: it creates a
    # bare customer where needed but is not counted as an imported row.
    counted: bool = True


def customer_from_columns(raw: dict[str, Any], ctx: RowContext) -> CustomerPatch:
    """A customers-file row (CSV or JSON): every standard column present is set."""
    values: dict[str, Any] = {}
    for column in CUSTOMER_COLUMNS[1:]:
        if column in raw:
            values[column] = _customer_value(column, raw[column], ctx)
    attributes: dict[str, Any] = {}
    removed: list[str] = []
    for key, value in raw.items():
        if key in CUSTOMER_COLUMNS:
            continue
        kind = ctx.attribute_kinds.get(key)
        if kind is not None:  # a CSV column: typed by the whole column
            if str(value).strip():
                attributes[key] = f.attribute_value(str(value), kind)
            else:
                removed.append(key)
        elif value is None:
            removed.append(key)
        else:
            attributes[key] = value
    return CustomerPatch(f.required(raw.get("id"), "id"), values, attributes, tuple(removed))


def customer_from_identify(raw: dict[str, Any], ctx: RowContext) -> CustomerPatch:
    """An identify call: only the traits it carries change the customer."""
    user_id = f.required(raw.get("userId"), "userId")
    traits = raw.get("traits") or {}
    if not isinstance(traits, dict):
        raise FieldError("traits must be a JSON object")
    values: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for key, value in traits.items():
        column = TRAIT_COLUMNS.get(key)
        if column is not None:
            values[column] = _customer_value(column, value, ctx)
        elif key not in ("id", "userId"):
            attributes[key] = value
    return CustomerPatch(user_id, values, attributes)


def _customer_value(column: str, value: Any, ctx: RowContext) -> Any:
    if column == "email":
        return f.email(value)
    if column == "phone":
        return f.phone(value, ctx.region)
    if column == "timezone":
        return f.timezone_name(value)
    if column == "created_at":
        return f.instant(value, column, ctx.tz)
    if column in ("email_opt_in", "sms_opt_in"):
        return f.boolean(value, column)
    return f.text(value)


# items, purchases and redemptions come from CSV only: every value is a string, which the
# fast paths below rely on (these run millions of times in a large import).


def _required(raw: dict[str, Any], name: str) -> str:
    value: str = raw.get(name, "").strip()
    if not value:
        raise FieldError(f"{name} is required")
    return value


def _optional(raw: dict[str, Any], name: str) -> str | None:
    value: str = raw.get(name, "").strip()
    return value or None


def item_record(raw: dict[str, Any], ctx: RowContext) -> dict[str, Any]:
    item_id = _required(raw, "id")
    duration = f.integer(raw.get("duration_days"), "duration_days")
    if duration is not None and duration <= 0:
        raise FieldError(f"duration_days must be positive, not {duration}")
    return {
        "id": item_id,
        "name": _optional(raw, "name") or item_id,
        "kind": f.choice(raw.get("kind"), "kind", ITEM_KINDS, "product"),
        "duration_days": duration,
    }


def purchase_record(raw: dict[str, Any], ctx: RowContext) -> dict[str, Any]:
    """A purchase; `expires_at` None here means "derive it from the item" (the loader does)."""
    purchased_at = f.instant(raw.get("purchased_at"), "purchased_at", ctx.tz)
    if purchased_at is None:
        raise FieldError("purchased_at is required")
    status = raw.get("status", "").strip().lower() or "active"
    if status not in PURCHASE_STATUSES:
        raise FieldError(f"status must be one of {', '.join(PURCHASE_STATUSES)}, not {status!r}")
    return {
        "id": _required(raw, "id"),
        "customer_id": _required(raw, "customer_id"),
        "item": _required(raw, "item"),
        "channel": _optional(raw, "channel"),
        "purchased_at": purchased_at,
        "expires_at": f.instant(raw.get("expires_at"), "expires_at", ctx.tz),
        "status": status,
        "amount": f.number(raw.get("amount"), "amount"),
    }


def redemption_record(raw: dict[str, Any], ctx: RowContext) -> dict[str, Any]:
    redeemed_at = f.instant(raw.get("redeemed_at"), "redeemed_at", ctx.tz)
    if redeemed_at is None:
        raise FieldError("redeemed_at is required")
    points = raw.get("points", "").strip()
    try:
        point_count = int(points) if points else 0
    except ValueError:
        raise FieldError(f"points must be a whole number, not {points!r}") from None
    return {
        "id": _required(raw, "id"),
        "customer_id": _required(raw, "customer_id"),
        "pass": _required(raw, "pass"),
        "location": _optional(raw, "location"),
        "redeemed_at": redeemed_at,
        "points": point_count,
    }


def bounce_record(raw: dict[str, Any], ctx: RowContext) -> dict[str, Any]:
    """A bounce or complaint reported by the mail provider (SPEC §11); a blank `at` is the
    import's time."""
    address = f.email(raw.get("email"))
    if address is None:
        raise FieldError("email is required")
    kind = raw.get("type", "").strip().lower()
    if kind not in BOUNCE_TYPES:
        raise FieldError(f"type must be one of {', '.join(BOUNCE_TYPES)}, not {kind!r}")
    at = f.instant(raw.get("at"), "at", ctx.tz)
    return {
        "email": address,
        "type": kind,
        "at": ctx.now if at is None else at,
        "reason": _optional(raw, "reason"),
    }


def track_record(raw: dict[str, Any], ctx: RowContext) -> dict[str, Any]:
    """A track call as an events row (without its store id)."""
    user_id = f.required(raw.get("userId"), "userId")
    name = f.required(raw.get("event"), "event")
    properties = raw.get("properties") or {}
    if not isinstance(properties, dict):
        raise FieldError("properties must be a JSON object")
    stamp = raw.get("timestamp") or raw.get("sentAt") or raw.get("receivedAt")
    parsed = f.instant(stamp, "timestamp", ctx.tz) if stamp is not None else None
    ts = ctx.now if parsed is None else parsed
    # The derived id uses the timestamp as written (None when absent), never the import's
    # clock, so re-importing the same line on another day is still a no-op.
    message_id = f.text(raw.get("messageId")) or derived_message_id(
        user_id, name, parsed, properties
    )
    return {
        "message_id": message_id,
        "customer_id": user_id,
        "event": name,
        "ts": ts,
        "received_at": ctx.now,
        "properties": properties,
    }


def derived_message_id(user_id: str, event: str, ts: int | None, properties: dict[str, Any]) -> str:
    """A stable id for a track without messageId, so that re-importing it is a no-op."""
    canonical = json.dumps([user_id, event, ts, properties], sort_keys=True, default=str)
    return "derived-" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def numeric_properties(properties: dict[str, Any]) -> list[tuple[str, float]]:
    """Top-level numeric properties (booleans excluded), for the event_numbers side table."""
    return [
        (key, float(value))
        for key, value in properties.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]
