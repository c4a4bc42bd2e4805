"""Frequency caps (SPEC §11), evaluated in SQL a batch of customers at a time.

A cap counts, per customer, the deliveries of messages and journey steps (not keyword
replies, not test sends) on its channel (or any) that went out within its rolling window,
`(now - per, now]`: those `sent`, and those on their way (planned, claimed, being sent, or
of unknown outcome), so that two runs planning at once cannot both pass a customer at the
cap. Failed, held and skipped deliveries never count. A cap with `tags` counts only the
deliveries of messages carrying one of its tags (as messages.yaml tags them now) and caps
only such messages; `ignore_caps: true` messages are never capped, but their sends count.

One query per batch gives every applicable cap's count for every customer of the batch:
`SELECT customer_id, SUM(CASE WHEN <cap 1> ...), ... WHERE customer_id IN (...) GROUP BY`,
on the ledger's (customer_id, created_at) index.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, func, literal, select

from passcli.messages.spec import MessageSpec
from passcli.policy.spec import FrequencyCap, Policy
from passcli.store.schema import deliveries
from passcli.timeutil import to_epoch

# Deliveries that count: sent, or on their way (a concurrent run's plan included).
COUNTED = ("sent", "sending", "unknown", "queued", "pending")
# The kinds of sends caps count and limit: a keyword reply answers the customer's own text,
# and a test send goes to the seed list.
CAPPED_KINDS = ("message", "journey")
CHANNELS = ("email", "sms")


@dataclass(frozen=True)
class Caps:
    """The frequency caps of a policy, with every message's tags."""

    caps: Sequence[FrequencyCap] = ()
    message_tags: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # Per message spec (by identity; the spec is kept so its id is not reused): asked for
    # every candidate, computed once.
    _applicable: dict[int, tuple[MessageSpec, dict[str, list[int]]]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def of(cls, policy: Policy, messages: Mapping[str, MessageSpec]) -> Caps:
        tags = {name: spec.tag_set for name, spec in messages.items() if spec.tags}
        return cls(tuple(policy.frequency_caps), tags)

    def applicable(self, spec: MessageSpec) -> dict[str, list[int]]:
        """Per channel, the indexes of the caps a send of `spec` on it is subject to."""
        if spec.ignore_caps or not self.caps:
            return {}
        key = id(spec)
        if key not in self._applicable:
            self._applicable[key] = (spec, self._applicable_to(spec))
        return self._applicable[key][1]

    def _applicable_to(self, spec: MessageSpec) -> dict[str, list[int]]:
        found = {
            channel: [i for i, cap in enumerate(self.caps) if cap.applies_to(channel, spec.tag_set)]
            for channel in CHANNELS
        }
        return {channel: indexes for channel, indexes in found.items() if indexes}

    def indexes(self, channel: str, spec: MessageSpec | None) -> list[int]:
        """The caps a send on `channel` of `spec` is subject to; a message no longer
        defined (None) is subject to the untagged caps."""
        if spec is None:
            return [i for i, cap in enumerate(self.caps) if cap.applies_to(channel, frozenset())]
        return self.applicable(spec).get(channel, [])

    def tally(
        self,
        conn: Connection,
        wanted: Iterable[tuple[str, str, MessageSpec | None]],
        now: datetime,
    ) -> Tally:
        """The counts, at `now`, of every cap that may stop one of the (customer id,
        channel, message) sends: one query for them all."""
        wanted = list(wanted)
        used = sorted({i for _, channel, spec in wanted for i in self.indexes(channel, spec)})
        customer_ids = sorted({customer_id for customer_id, _, _ in wanted})
        counts = self._counts(conn, customer_ids, used, now) if used and customer_ids else {}
        return Tally(self, counts)

    def _counts(
        self, conn: Connection, customer_ids: list[str], used: list[int], now: datetime
    ) -> dict[str, Counter[int]]:
        d = deliveries.c
        at = func.coalesce(d.sent_at, d.created_at)
        now_s = to_epoch(now)
        widest = max(self.caps[i].per.seconds for i in used)
        columns = [
            func.sum(case((self._counts_for(self.caps[i], at, now_s), 1), else_=0)).label(f"c{i}")
            for i in used
        ]
        rows = conn.execute(
            select(d.customer_id, *columns)
            .where(
                d.customer_id.in_(customer_ids),
                d.kind.in_(CAPPED_KINDS),
                at > now_s - widest,
                at <= now_s,
            )
            .group_by(d.customer_id)
        )
        return {
            row.customer_id: Counter({i: int(row._mapping[f"c{i}"] or 0) for i in used})
            for row in rows
        }

    def _counts_for(self, cap: FrequencyCap, at: Any, now_s: int) -> Any:
        d = deliveries.c
        # The status is tested here, not in the WHERE clause: there SQLite (which has no
        # statistics for the ledger) would pick the status index and read every counted row
        # of the ledger per batch, instead of each customer's few rows.
        conditions: list[Any] = [d.status.in_(COUNTED), at > now_s - cap.per.seconds]
        if cap.channel != "any":
            conditions.append(d.channel == cap.channel)
        if cap.tags:
            tagged = sorted(n for n, tags in self.message_tags.items() if tags & set(cap.tags))
            conditions.append(d.message.in_(tagged) if tagged else literal(False))
        return and_(*conditions)


@dataclass
class Tally:
    """Cap counts of a batch of customers, kept up to date as the batch admits sends: two
    sends to one customer in one batch (two held messages released together) count each
    other."""

    caps: Caps
    counts: dict[str, Counter[int]]

    def admit(self, customer_id: str, channel: str, spec: MessageSpec | None) -> bool:
        """Whether a send to the customer stays within every cap; if so it is counted."""
        indexes = self.caps.indexes(channel, spec)
        if not indexes:
            return True
        mine = self.counts.setdefault(customer_id, Counter())
        if any(mine[i] >= self.caps.caps[i].max for i in indexes):
            return False
        for i in indexes:
            mine[i] += 1
        return True
