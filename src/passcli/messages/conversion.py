"""Conversions (SPEC §10): an event within a window after a delivery or a journey entry.

The shape is the same in messages.yaml and journeys.yaml —
`conversion: {event: {name: Order Completed, where: [...]}, within: {days: 3}}` — so the
models live here, below both (journeys import messages, never the reverse).
"""

from __future__ import annotations

from typing import Any

from pydantic import model_validator

from passcli.segments.comparisons import Spec
from passcli.segments.spec import Event


class Span(Spec):
    """An exact duration: `{seconds|minutes|hours|days|weeks: N}` (they add up)."""

    seconds: float = 0
    minutes: float = 0
    hours: float = 0
    days: float = 0
    weeks: float = 0

    @property
    def total(self) -> int:
        """The duration in whole seconds."""
        return round(
            self.seconds
            + self.minutes * 60
            + self.hours * 3600
            + (self.days + self.weeks * 7) * 86400
        )

    @model_validator(mode="after")
    def _positive(self) -> Span:
        if self.total <= 0:
            raise ValueError("a duration must be positive")
        return self


class EventMatch(Spec):
    """An event by name, with optional `where` filters (as in segments' `event`)."""

    name: str
    where: list[Any] = []

    def as_event(self) -> Event:
        return Event.model_validate({"name": self.name, "where": self.where})

    @model_validator(mode="after")
    def _where_ok(self) -> EventMatch:
        self.as_event()  # the filters must be valid `where` items
        return self


class Conversion(Spec):
    """`{event: {name: ..., where: [...]}, within: {days: N}}`."""

    event: EventMatch
    within: Span
