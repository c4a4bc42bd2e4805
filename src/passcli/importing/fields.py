"""Parsers for single imported values; each raises FieldError with a short reason."""

from __future__ import annotations

import math
import re
from datetime import datetime, tzinfo
from functools import lru_cache
from typing import Any

import phonenumbers

from passcli.timeutil import zone


class FieldError(ValueError):
    """A value that cannot be imported; the message is the reason shown to the user."""


# Syntax only (no DNS): one @, no spaces, a dot in the domain, no empty labels.
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")

TRUE_WORDS = frozenset({"true", "yes", "1", "y", "t"})
FALSE_WORDS = frozenset({"false", "no", "0", "n", "f"})


def text(value: Any) -> str | None:
    """A stripped string, or None for blank and null."""
    if value is None:
        return None
    result = str(value).strip()
    return result or None


def required(value: Any, name: str) -> str:
    result = text(value)
    if result is None:
        raise FieldError(f"{name} is required")
    return result


def email(value: Any) -> str | None:
    result = text(value)
    if result is None:
        return None
    result = result.lower()
    if not EMAIL_RE.match(result):
        raise FieldError(f"invalid email address {result!r}")
    return result


@lru_cache(maxsize=262_144)
def _phone(raw: str, region: str) -> str | None:
    # Parsing costs ~34 µs (LIMITS.md); real files repeat numbers, hence the cache.
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    # IS_POSSIBLE_LOCAL_ONLY (a number without its area code) cannot be dialled: reject it.
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# A North American number already written in E.164: exactly what phonenumbers would return
# for it (a +1 number is "possible" when it has 10 national digits), without the ~34 µs parse.
NANP_E164 = re.compile(r"^\+1\d{10}$")


def phone(value: Any, region: str) -> str | None:
    """A phone number in E.164; numbers without a country code are read in `region`."""
    result = text(value)
    if result is None:
        return None
    if NANP_E164.match(result):
        return result
    normalised = _phone(result, region)
    if normalised is None:
        raise FieldError(f"cannot parse phone number {result!r}")
    return normalised


def timezone_name(value: Any) -> str | None:
    result = text(value)
    if result is None:
        return None
    try:
        zone(result)
    except ValueError:
        raise FieldError(f"unknown time zone {result!r}") from None
    return result


def boolean(value: Any, name: str) -> bool | None:
    if isinstance(value, bool):
        return value
    result = text(value)
    if result is None:
        return None
    word = result.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise FieldError(f"{name} must be true or false, not {result!r}")


def instant(value: Any, name: str, tz: tzinfo) -> int | None:
    """Unix seconds of an ISO-8601 timestamp; without offset it is wall time in `tz`."""
    result = value.strip() if isinstance(value, str) else text(value)
    if not result:
        return None
    try:
        parsed = datetime.fromisoformat(result)
    except ValueError:
        raise FieldError(f"{name} is not an ISO-8601 timestamp: {result!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return int(parsed.timestamp() // 1)


def number(value: Any, name: str) -> float | None:
    if isinstance(value, bool):
        raise FieldError(f"{name} must be a number, not {value!r}")
    if isinstance(value, int | float):
        return float(value)
    result = text(value)
    if result is None:
        return None
    try:
        return float(result)
    except ValueError:
        raise FieldError(f"{name} must be a number, not {result!r}") from None


def integer(value: Any, name: str) -> int | None:
    if isinstance(value, bool):
        raise FieldError(f"{name} must be a whole number, not {value!r}")
    if isinstance(value, int):
        return value
    result = text(value)
    if result is None:
        return None
    try:
        return int(result)
    except ValueError:
        raise FieldError(f"{name} must be a whole number, not {result!r}") from None


def choice(value: Any, name: str, allowed: tuple[str, ...], default: str) -> str:
    result = text(value)
    if result is None:
        return default
    result = result.lower()
    if result not in allowed:
        raise FieldError(f"{name} must be one of {', '.join(allowed)}, not {result!r}")
    return result


class AttributeTyper:
    """Infers, one value at a time, how a CSV column's attribute is stored (SPEC §2):
    as numbers or booleans when every non-blank value parses as one, else as text."""

    def __init__(self) -> None:
        self.seen = False
        self.boolean = True
        self.number = True

    def see(self, raw: str) -> None:
        value = raw.strip()
        if not value:
            return
        self.seen = True
        if self.boolean and value.lower() not in ("true", "false"):
            self.boolean = False
        if self.number:
            try:
                # NaN and infinities are words here ("Nan" is a nickname), not numbers.
                self.number = math.isfinite(float(value)) and "_" not in value
            except ValueError:
                self.number = False

    @property
    def kind(self) -> str:
        if self.seen and self.boolean:
            return "boolean"
        if self.seen and self.number:
            return "number"
        return "text"


def attribute_value(raw: str, kind: str) -> Any:
    """A CSV cell as its inferred type; integers stay integers."""
    value = raw.strip()
    if kind == "boolean":
        return value.lower() == "true"
    if kind == "number":
        try:
            return int(value)
        except ValueError:
            return float(value)
    return value
