"""Rate limits (policy.yaml `rate_limits`): send slots shared through the store's rate_slots.

The limiter's tests run on a fake wall clock that only sleeping moves; the end-to-end ones
send through the CLI, with the local fake Twilio of test_twilio.py, in real time.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from dataclasses import dataclass, field

import pytest
from sqlalchemy import event, select

from passcli.cli.context import make_env
from passcli.delivery.base import Outgoing
from passcli.delivery.outbox import OutboxTransport
from passcli.delivery.ratelimit import RateLimitedTransport, RateLimiter, RateLimits
from passcli.delivery.transports import Transports, send_with_retries
from passcli.errors import InvalidProjectError, TransientDeliveryError
from passcli.policy.spec import RateLimit
from passcli.project import load_project
from passcli.store import make_engine, read_transaction
from passcli.store.schema import rate_slots

from .conftest import EXPIRATION_REMINDER, NOW, START_CHECKING_IN, invoke
from .test_twilio import FROM, SID, TOKEN, FakeTwilio

PER_SECOND_50 = RateLimit(count=50, seconds=1)
EPSILON = 1e-6  # epoch seconds are floats: about 2e-7 apart near 2030


class FakeClock:
    """Wall-clock epoch seconds that only sleeping moves. Threads sleeping side by side: the
    clock goes to the latest instant any of them sleeps until."""

    def __init__(self, start: float = 1_900_000_000.0) -> None:
        self.now = start
        self.lock = threading.Lock()
        self.seen = threading.local()  # what each thread last read

    def __call__(self) -> float:
        self.seen.now = self.now
        return self.seen.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        with self.lock:
            self.now += seconds

    def sleep_beside_others(self, seconds: float) -> None:
        """Sleep until the instant this thread last read plus `seconds`."""
        with self.lock:
            self.now = max(self.now, self.seen.now + seconds)


@dataclass
class Recorder:
    """A transport that records when each send started, by the fake clock."""

    clock: FakeClock
    idempotent: bool = False
    starts: list[float] = field(default_factory=list)
    takes: float = 0.0  # how long a send takes, in fake seconds
    failures: int = 0  # how many first sends fail with a 429

    def send(self, message: Outgoing) -> str:
        self.starts.append(self.clock())
        if self.failures:
            self.failures -= 1
            raise TransientDeliveryError("Twilio 429: Too Many Requests")
        self.clock.sleep(self.takes)
        return f"id-{len(self.starts)}"

    def close(self) -> None:
        pass


def message(n: int = 0) -> Outgoing:
    return Outgoing(channel="sms", to="+13035550132", body="Hi", key=f"k-{n}", date=NOW)


def limited(engine, clock, rate=PER_SECOND_50, name="twilio", takes=0.0):
    limits = RateLimits(engine, {"sms": rate}, clock, clock.sleep)
    recorder = Recorder(clock, takes=takes)
    return limits.wrap("sms", name, recorder), recorder


def most_in_any_window(starts: list[float], seconds: float) -> int:
    """The most starts inside one half-open window [t, t + seconds)."""
    ordered = sorted(starts)
    return max(
        bisect.bisect_left(ordered, start + seconds - EPSILON) - i
        for i, start in enumerate(ordered)
    )


def count_reservations(engine) -> list[str]:
    statements: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def spy(conn, cursor, statement, *_):
        if "rate_slots" in statement:
            statements.append(statement)

    return statements


def test_sends_at_50_per_second_are_spread_and_never_crowd_a_second(engine):
    clock = FakeClock()
    transport, recorder = limited(engine, clock)
    reservations = count_reservations(engine)
    for n in range(200):
        transport.send(message(n))
    starts = recorder.starts
    assert starts[-1] - starts[0] >= 199 / 50 - EPSILON
    assert most_in_any_window(starts, 1.0) == 50
    assert all(b - a >= 1 / 50 - EPSILON for a, b in zip(starts, starts[1:], strict=False))
    # Slots come in blocks (0.2 s of the rate: 10), not one transaction per send.
    assert len(reservations) <= 30


def test_the_store_row_holds_the_next_free_instant(engine):
    clock = FakeClock()
    transport, recorder = limited(engine, clock, RateLimit(count=2, seconds=1))
    for n in range(3):
        transport.send(message(n))
    assert recorder.starts == [clock.now - 1.0, clock.now - 0.5, clock.now]
    with read_transaction(engine) as conn:
        rows = conn.execute(select(rate_slots.c.transport, rate_slots.c.next_at)).all()
    assert [(t, pytest.approx(at)) for t, at in rows] == [("twilio", clock.now + 0.5)]


def test_a_per_minute_rate_spreads_sends_over_minutes(engine):
    clock = FakeClock()
    transport, recorder = limited(engine, clock, RateLimit(count=30, seconds=60))
    for n in range(61):
        transport.send(message(n))
    assert recorder.starts[-1] - recorder.starts[0] >= 120 - EPSILON
    assert most_in_any_window(recorder.starts, 60.0) == 30


def test_a_first_send_after_a_quiet_spell_goes_at_once(engine):
    clock = FakeClock()
    transport, recorder = limited(engine, clock, RateLimit(count=1, seconds=1))
    transport.send(message(1))
    clock.sleep(30)
    transport.send(message(2))
    assert recorder.starts[1] == clock.now  # no waiting for slots nobody used


def test_two_limiters_on_one_store_share_the_rate(engine, database_url):
    """Two processes, each with its own engine, draw from the same row."""
    other_engine = make_engine(database_url)
    try:
        clock = FakeClock()
        first, first_sent = limited(engine, clock)
        second, second_sent = limited(other_engine, clock)
        for n in range(100):
            (first if n % 3 else second).send(message(n))
        starts = first_sent.starts + second_sent.starts
        assert (len(first_sent.starts), len(second_sent.starts)) == (66, 34)
        # Alone each would go at 50/s: together they still take 99/50 s.
        assert max(starts) - min(starts) >= 99 / 50 - EPSILON
        assert most_in_any_window(starts, 1.0) <= 50
        assert len(set(starts)) == 100
    finally:
        other_engine.dispose()


def test_threads_share_the_rate(engine, monkeypatch):
    clock = FakeClock()
    limits = RateLimits(engine, {"sms": PER_SECOND_50}, clock, clock.sleep_beside_others)
    recorders: list[Recorder] = []

    def factory(channel):
        recorders.append(Recorder(clock))
        return limits.wrap(channel, "twilio", recorders[-1])

    slots: list[float] = []
    acquire = RateLimiter.acquire

    def recording_acquire(self):
        slot = acquire(self)
        slots.append(slot)
        return slot

    monkeypatch.setattr(RateLimiter, "acquire", recording_acquire)
    shared = Transports(factory)

    def courier():
        transports = Transports(shared.factory)  # as each thread of a crew does
        for n in range(40):
            transports.get("sms").send(message(n))

    threads = [threading.Thread(target=courier) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(len(r.starts) for r in recorders) == [40, 40, 40, 40]
    ordered = sorted(slots)
    assert len(ordered) == 160
    assert all(b - a >= 1 / 50 - EPSILON for a, b in zip(ordered, ordered[1:], strict=False))
    assert ordered[-1] - ordered[0] >= 159 / 50 - EPSILON
    assert most_in_any_window(ordered, 1.0) <= 50
    assert clock.now - ordered[0] == pytest.approx(159 / 50, abs=0.05)  # side by side
    # Every send went out at or after its slot.
    assert min(r.starts[0] for r in recorders) >= ordered[0] - EPSILON


def test_a_sender_slower_than_the_rate_is_not_slowed_down(engine):
    """Blocks shrink again when slots go unused: a sender at 10/s under a 50/s limit keeps
    its pace, and reserves about one slot per send."""
    clock = FakeClock()
    transport, recorder = limited(engine, clock, takes=0.1)
    started = clock.now
    for n in range(20):
        transport.send(message(n))
    assert clock.now - started == pytest.approx(2.0, abs=0.05)


def test_a_retried_send_waits_for_a_slot_too(engine):
    clock = FakeClock()
    transport, recorder = limited(engine, clock, RateLimit(count=1, seconds=1))
    recorder.failures = 1
    retry_sleeps: list[float] = []
    assert send_with_retries(transport, message(), retry_sleeps.append) == "id-2"
    assert retry_sleeps == [0.5]  # the backoff (not advancing this fake clock), then a slot
    assert recorder.starts[1] - recorder.starts[0] == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["outbox", "console"])
def test_only_smtp_and_twilio_are_limited(engine, tmp_path, name):
    clock = FakeClock()
    limits = RateLimits(engine, {"email": RateLimit(count=1, seconds=60)}, clock, clock.sleep)
    box = OutboxTransport(tmp_path / "outbox", "news@example.com")
    assert limits.wrap("email", name, box) is box
    wrapped = limits.wrap("email", "smtp", box)
    assert isinstance(wrapped, RateLimitedTransport)
    assert wrapped.idempotent is True  # still what the inner transport says
    # A channel without a limit is not limited either.
    assert limits.wrap("sms", "twilio", box) is box


def test_an_invalid_policy_is_reported_with_its_position(project):
    (project / "policy.yaml").write_text("rate_limits:\n  sms: fast\n", encoding="utf-8")
    env = make_env(None, project)
    try:
        with pytest.raises(InvalidProjectError) as caught:
            env.transports()
    finally:
        env.close()
    (problem,) = caught.value.diagnostics
    assert str(problem) == (
        "policy.yaml:2:3: rate_limits: a rate is written like 50/s or 100/m, not 'fast'"
    )
    # The same words and position as when the whole project is checked.
    assert [d for d in load_project(project)[1] if d.file == "policy.yaml"] == [problem]


# -- end to end, in real time ---------------------------------------------------------------


@dataclass
class TimedTwilio(FakeTwilio):
    """The fake Twilio, noting when each request arrived."""

    arrivals: list[float] = field(default_factory=list)

    def __call__(self, request):
        self.arrivals.append(time.monotonic())
        return super().__call__(request)


@pytest.fixture
def twilio(httpserver, monkeypatch):
    fake = TimedTwilio()
    httpserver.expect_request(
        f"/2010-04-01/Accounts/{SID}/Messages.json", method="POST"
    ).respond_with_handler(fake)
    monkeypatch.setenv("PASSCLI_SMS_TRANSPORT", "twilio")
    monkeypatch.setenv("PASSCLI_TWILIO_ACCOUNT_SID", SID)
    monkeypatch.setenv("PASSCLI_TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("PASSCLI_TWILIO_FROM", FROM)
    monkeypatch.setenv("PASSCLI_TWILIO_API_BASE", httpserver.url_for("/").rstrip("/"))
    return fake


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 3])
def test_the_cli_sends_texts_through_twilio_at_the_policy_rate(examples, runner, twilio, workers):
    (examples.dir / "policy.yaml").write_text("rate_limits: {sms: 5/s}\n", encoding="utf-8")
    result = invoke(
        runner, examples, "send", "start-checking-in", "--yes", "--json", "--workers", workers
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["sent"] == {"email": 0, "sms": START_CHECKING_IN}
    arrivals = sorted(twilio.arrivals)
    assert len(arrivals) == START_CHECKING_IN
    # Slack for a busy machine: a process may wake from its sleep, and a request arrive, a
    # little late (unlimited, the seven texts arrive within a few hundredths of a second).
    slack = 0.1
    assert arrivals[-1] - arrivals[0] >= (START_CHECKING_IN - 1) / 5 - slack
    # Five a second at most, whichever worker sent them.
    assert all(arrivals[i + 5] - arrivals[i] >= 1.0 - slack for i in range(len(arrivals) - 5))
    with read_transaction(examples.engine) as conn:
        assert conn.execute(select(rate_slots.c.transport)).scalars().all() == ["twilio"]


def test_the_outbox_never_waits_for_a_rate_limit(examples, runner):
    (examples.dir / "policy.yaml").write_text("rate_limits: {email: 1/m}\n", encoding="utf-8")
    started = time.monotonic()
    result = invoke(runner, examples, "send", "expiration-reminder", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["sent"]["email"] == EXPIRATION_REMINDER
    assert time.monotonic() - started < 30  # at 1/m, ten emails would take nine minutes
    with read_transaction(examples.engine) as conn:
        assert conn.execute(select(rate_slots)).all() == []
