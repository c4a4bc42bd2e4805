"""Thirty days of run-due on the example data under a sending policy (issue 10's "done
when"): a daily SMS and an evening SMS to every SMS subscriber, a cap of two texts per
rolling week, and quiet hours 21:00-08:00. Nobody ever gets a third text within 7 days, and
every send held by quiet hours is released exactly once (or skipped, with its reason)."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from passcli.delivery.outbox import OutboxTransport
from passcli.delivery.transports import Transports
from passcli.scheduling.run_due import RunDue

from .conftest import NOW, TZ, WALL, Sleeps

SEGMENTS = """\
segments:
  sms-subscribers:
    conditions:
      - subscribed: {channel: sms}
"""
MESSAGES = """\
messages:
  daily-tip:
    segments: [sms-subscribers]
    channel: sms
    body: "Today's tip for {{ customerFirstName }}: try a new attraction."
    once_per_customer: false
    schedule: {every: 1 day, start: 2026-11-23 09:00, resends: 40}
  evening-deal:
    segments: [sms-subscribers]
    channel: sms
    body: Tonight only, two for one.
    once_per_customer: false
    schedule: {every: 1 day, start: 2026-11-23 21:30, resends: 40}
"""
POLICY = """\
frequency_caps:
  - {channel: sms, max: 2, per: {days: 7}}
quiet_hours: {start: "21:00", end: "08:00"}
"""
WEEK = timedelta(days=7)


def test_thirty_days_never_send_a_third_text_within_a_week(examples):
    (examples.dir / "segments.yaml").write_text(SEGMENTS, encoding="utf-8")
    (examples.dir / "messages.yaml").write_text(MESSAGES, encoding="utf-8")
    (examples.dir / "policy.yaml").write_text(POLICY, encoding="utf-8")
    project = examples.project()
    box = OutboxTransport(examples.outbox, "passcli@example.com")
    from passcli.cli.context import make_env

    branding = make_env(None, examples.dir).branding
    held = released = skipped_at_release = 0
    now = NOW.replace(hour=0, minute=0) + timedelta(days=1)  # 2026-11-23T00:00Z
    for _ in range(30 * 8):  # every 3 hours for 30 days
        runner = RunDue(
            engine=examples.engine,
            project=project,
            tz=TZ,
            org_zone="America/Denver",
            branding=branding,
            transports=Transports.fixed(box, box),
            wall_clock=lambda: WALL,
            sleep=Sleeps(),
        )
        report = runner.run(now)
        for run in report.runs:
            if run.released:
                released += run.sent["sms"]
                skipped_at_release += sum(run.skipped.values())
            else:
                held += run.holds["quiet_hours"]
        now += timedelta(hours=3)

    texts: dict[str, list] = defaultdict(list)
    for row in examples.deliveries():
        if row["status"] == "sent":
            texts[row["customer_id"]].append(row["sent_at"])
    assert len(texts) > 50  # the SMS subscribers of the example data
    for customer_id, times in texts.items():
        times.sort()
        for first, third in zip(times, times[2:], strict=False):
            assert third - first >= WEEK, (customer_id, first, third)
        assert len(times) >= 8, customer_id  # two a week for 30 days: the cap, not silence
    assert held > 0 and released > 0
    assert held == released + skipped_at_release  # every hold ended exactly once
    assert [r for r in examples.deliveries() if r["status"] == "held"] == []
