"""The reports as CSV: one row per occurrence (or step), then a total row."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from passcli.reports.journey import JourneyReport
from passcli.reports.message import MessageReport
from passcli.reports.outcomes import Outcomes
from passcli.timeutil import iso_utc

OUTCOME_COLUMNS = (
    "audience",
    "sent_email",
    "sent_sms",
    "failed",
    "pending",
    "held",
)
TAIL_COLUMNS = ("unsubscribes_email", "unsubscribes_sms", "conversions", "conversion_rate")


def _reasons(outcomes: Iterable[Outcomes]) -> list[str]:
    """Every skip reason that occurs, sorted: each gets a `skipped_REASON` column."""
    return sorted({reason for o in outcomes for reason in o.skipped})


def _cells(o: Outcomes, reasons: list[str]) -> list[object]:
    rate = o.conversion_rate
    return [
        o.audience,
        o.sent.get("email", 0),
        o.sent.get("sms", 0),
        o.failed,
        o.pending,
        o.held,
        *(o.skipped.get(reason, 0) for reason in reasons),
        o.unsubscribes.get("email", 0),
        o.unsubscribes.get("sms", 0),
        "" if o.conversions is None else o.conversions,
        "" if rate is None else f"{rate:.4f}",
    ]


def message_csv(report: MessageReport) -> str:
    reasons = _reasons([row.outcomes for row in report.occurrences])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "occurrence",
            "kind",
            "status",
            "started_at",
            *OUTCOME_COLUMNS,
            *(f"skipped_{reason}" for reason in reasons),
            *TAIL_COLUMNS,
        ]
    )
    for row in report.occurrences:
        started = iso_utc(row.started_at) if row.started_at else ""
        writer.writerow(
            [row.occurrence, row.kind, row.status, started, *_cells(row.outcomes, reasons)]
        )
    writer.writerow(["total", "", "", "", *_cells(report.total, reasons)])
    return buffer.getvalue()


def journey_csv(report: JourneyReport) -> str:
    """One row per step, in the file's order."""
    reasons = sorted({reason for f in report.steps for reason in f.skipped})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "step",
            "kind",
            "message",
            "reached",
            "waiting",
            "done",
            "sent_email",
            "sent_sms",
            "failed",
            *(f"skipped_{reason}" for reason in reasons),
            "timed_out",
            "unsubscribes",
            "converted",
        ]
    )
    for f in report.steps:
        writer.writerow(
            [
                f.step,
                f.kind,
                f.message or "",
                f.reached,
                f.waiting,
                f.done,
                f.sent.get("email", 0),
                f.sent.get("sms", 0),
                f.failed,
                *(f.skipped.get(reason, 0) for reason in reasons),
                f.timed_out,
                f.unsubscribes,
                f.converted,
            ]
        )
    return buffer.getvalue()
