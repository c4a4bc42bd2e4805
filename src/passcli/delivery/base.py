"""What a transport is given, and what it must do with it.

    class Transport(Protocol):
        def send(self, message: Outgoing) -> str   # the provider's id (Message-ID, SID)
        def close(self) -> None

A transport raises TransientDeliveryError for what may work later (connection refused,
SMTP 4xx, HTTP 429/5xx) and PermanentDeliveryError for what will not (SMTP 5xx, HTTP 4xx).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

# Twilio's error for a recipient who replied STOP to this sender: marked unsubscribed.
CARRIER_UNSUBSCRIBED = 21610


@dataclass(frozen=True)
class Outgoing:
    """One rendered message for one address."""

    channel: str  # "email" or "sms"
    to: str
    body: str
    key: str  # unique per delivery: file names, idempotency keys
    date: datetime  # the send's instant (--now), for the Date header
    subject: str | None = None
    html: str | None = None
    unsubscribe_url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class Transport(Protocol):
    """`idempotent`: sending the same Outgoing (same key) twice delivers it once (the outbox
    rewrites one file). Such a transport's deliveries may turn `sending` a chunk at a time;
    any other's turn `sending` one by one, right before each call."""

    idempotent: bool

    def send(self, message: Outgoing) -> str: ...

    def close(self) -> None: ...
