"""Per-transport rate limits (policy.yaml `rate_limits`), shared through the store.

Every process sending through a limited transport (the threads of a run, `--workers N`
processes, run-dues on other hosts) draws its send slots from one row of `rate_slots`: the
next instant, in wall-clock epoch seconds, at which a send may start. Reserving k slots is
one short write transaction: start = max(next_at, now), next_at = start + k * interval. The
slots are then start, start + interval, ...; a send waits for its slot, then goes out.

A process reserves a block of slots at a time, so that 50/s is not 50 transactions a second:
one slot at first, twice as many each time a block was used up in time, up to BLOCK_SECONDS
of the rate; fewer again when slots went unused. A slot found already past when its turn
comes is dropped, never sent late, so sends never bunch up: no window of `seconds` holds
more than `count` starts. A crash loses at most the block a process held (others wait that
long, never more), and leaves nothing locked.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine, case
from sqlalchemy.dialects import postgresql, sqlite

from passcli.delivery.base import Outgoing, Transport
from passcli.errors import StoreError, TransientDeliveryError
from passcli.store.engine import write_transaction
from passcli.store.schema import rate_slots

if TYPE_CHECKING:
    from passcli.policy.spec import RateLimit

Clock = Callable[[], float]  # wall-clock epoch seconds (time.time)
Sleep = Callable[[float], None]

# Transports a rate limit applies to (SPEC §11); the outbox and the console never wait.
LIMITED_TRANSPORTS = ("smtp", "twilio")
# The most a process reserves at once: this much of the rate's time (at least one slot).
BLOCK_SECONDS = 0.2


@dataclass
class RateLimiter:
    """The slots of one transport for one process, shared by its threads."""

    engine: Engine
    transport: str  # the rate_slots key: "smtp" or "twilio"
    rate: RateLimit
    clock: Clock
    sleep: Sleep
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _slots: deque[float] = field(default_factory=deque, init=False, repr=False)
    _block: int = field(default=0, init=False, repr=False)  # the size of the last reservation
    _wasted: bool = field(default=False, init=False, repr=False)  # slots of it were dropped

    @property
    def max_block(self) -> int:
        return max(1, math.floor(BLOCK_SECONDS / self.rate.interval + 1e-9))

    def acquire(self) -> float:
        """Wait for this process's next slot; the slot's instant."""
        with self._lock:
            now = self.clock()
            while self._slots and self._slots[0] < now:
                self._slots.popleft()  # its moment passed unused: gone, never sent late
                self._wasted = True
            if not self._slots:
                self._slots.extend(self._reserve(self._next_block()))
            slot = self._slots.popleft()
        delay = slot - self.clock()
        if delay > 0:
            self.sleep(delay)
        return slot

    def _next_block(self) -> int:
        if self._block == 0:
            block = 1
        elif self._wasted:
            block = max(1, self._block // 2)
        else:
            block = min(self.max_block, self._block * 2)
        self._block, self._wasted = block, False
        return block

    def _reserve(self, count: int) -> list[float]:
        """`count` consecutive slots, reserved in one write transaction."""
        interval = self.rate.interval
        span = count * interval
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        try:
            with write_transaction(self.engine) as conn:
                # Read the clock once the transaction holds its lock (SQLite: BEGIN
                # IMMEDIATE may have waited for another writer).
                now = self.clock()
                current = rate_slots.c.next_at
                statement = (
                    dialect.insert(rate_slots)
                    .values(transport=self.transport, next_at=now + span)
                    .on_conflict_do_update(
                        index_elements=[rate_slots.c.transport],
                        set_={"next_at": case((current > now, current), else_=now) + span},
                    )
                    .returning(rate_slots.c.next_at)
                )
                next_at = float(conn.execute(statement).scalar_one())
        except StoreError as exc:
            raise TransientDeliveryError(
                f"not sent: the {self.transport} rate limit could not reserve a slot ({exc})"
            ) from exc
        start = next_at - span
        return [start + i * interval for i in range(count)]


class RateLimitedTransport:
    """A transport whose every send (retries too) waits for a slot of its rate limit."""

    def __init__(self, inner: Transport, limiter: RateLimiter) -> None:
        self.inner = inner
        self.limiter = limiter
        self.idempotent = bool(getattr(inner, "idempotent", False))

    def send(self, message: Outgoing) -> str:
        self.limiter.acquire()
        return self.inner.send(message)

    def close(self) -> None:
        self.inner.close()


@dataclass
class RateLimits:
    """policy.yaml's `rate_limits` for one process: wraps the smtp and twilio transports of
    the limited channels; one limiter per transport, shared by every thread."""

    engine: Engine
    rates: Mapping[str, RateLimit]  # channel ("email", "sms") -> rate
    clock: Clock
    sleep: Sleep
    _limiters: dict[str, RateLimiter] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def wrap(self, channel: str, name: str, transport: Transport) -> Transport:
        """`transport` (named `name`: smtp, twilio, outbox, console) for `channel`, rate
        limited when the policy limits that channel and the transport is smtp or twilio."""
        rate = self.rates.get(channel)
        if rate is None or name not in LIMITED_TRANSPORTS:
            return transport
        with self._lock:
            limiter = self._limiters.get(name)
            if limiter is None:
                limiter = RateLimiter(self.engine, name, rate, self.clock, self.sleep)
                self._limiters[name] = limiter
        return RateLimitedTransport(transport, limiter)
