"""What a send did: the SPEC §5 report, with its recipients spooled to a file."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from passcli.delivery.spool import Spool
from passcli.timeutil import iso_utc


@dataclass(frozen=True)
class Recipient:
    customer_id: str
    channel: str
    to: str
    status: str  # sent | failed | dry_run

    def to_json(self) -> dict[str, str]:
        return {
            "customer_id": self.customer_id,
            "channel": self.channel,
            "to": self.to,
            "status": self.status,
        }


@dataclass
class SendReport:
    message: str
    at: datetime
    occurrence: str
    dry_run: bool
    audience: int = 0
    sent: dict[str, int] = field(default_factory=lambda: {"email": 0, "sms": 0})
    failed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    held: int = 0
    # Why the held ones wait: `quiet_hours` (sent by a later run-due) or `limit` (beyond
    # --limit, left eligible for a later send). Shown by the CLI; the JSON document keeps
    # SPEC §5's keys, where `held` is their sum.
    holds: Counter[str] = field(default_factory=Counter)
    recipients: Spool = field(default_factory=Spool)
    released: bool = False  # the held deliveries of an earlier send, released by run-due

    def held_text(self) -> str:
        """`; held 12 (quiet_hours 10, limit 2)`, or nothing when none are held."""
        if not self.held:
            return ""
        why = ", ".join(f"{reason} {count}" for reason, count in sorted(self.holds.items()))
        return f"; held {self.held}" + (f" ({why})" if why else "")

    def add(self, recipient: Recipient) -> None:
        self.recipients.append(recipient.to_json())

    def to_json(self) -> dict[str, Any]:
        """The SPEC §5 document; `recipients` stays a Spool (see cli.output.print_json)."""
        return {
            "message": self.message,
            "at": self.at,
            "occurrence": self.occurrence,
            "dry_run": self.dry_run,
            "audience": self.audience,
            "sent": dict(self.sent),
            "failed": self.failed,
            "skipped": dict(sorted(self.skipped.items())),
            "held": self.held,
            "recipients": self.recipients,
        }

    def counts(self) -> dict[str, Any]:
        """The totals without recipients, as kept with an occurrence."""
        document = self.to_json()
        del document["recipients"]
        document["at"] = iso_utc(self.at)
        document["holds"] = dict(sorted(self.holds.items()))
        return document

    def merge(self, other: SendReport) -> None:
        """Add what another worker of the same send did (it planned nothing)."""
        for channel, count in other.sent.items():
            self.sent[channel] = self.sent.get(channel, 0) + count
        self.failed += other.failed
        self.skipped.update(other.skipped)
        self.recipients.extend(other.recipients)
