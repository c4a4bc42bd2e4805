"""The reports' JSON documents (docs/reports.md keeps their shapes stable)."""

from __future__ import annotations

from typing import Any

from passcli.reports.journey import JourneyReport
from passcli.reports.message import MessageReport
from passcli.reports.outcomes import DaySends, Outcomes


def outcomes_document(outcomes: Outcomes) -> dict[str, Any]:
    rate = outcomes.conversion_rate
    return {
        "audience": outcomes.audience,
        "sent": dict(outcomes.sent),
        "failed": outcomes.failed,
        "pending": outcomes.pending,
        "skipped": dict(sorted(outcomes.skipped.items())),
        "held": outcomes.held,
        "unsubscribes": dict(outcomes.unsubscribes),
        "conversions": outcomes.conversions,
        "conversion_rate": round(rate, 4) if rate is not None else None,
    }


def conversion_document(conversion: Any) -> dict[str, Any] | None:
    """A message's or a journey's conversion (the same shape in both files)."""
    if conversion is None:
        return None
    return {
        "event": conversion.event.name,
        "where": list(conversion.event.where),
        "within_seconds": conversion.within.total,
    }


def days_document(days: list[DaySends]) -> list[dict[str, Any]]:
    return [{"day": d.day.isoformat(), "email": d.email, "sms": d.sms} for d in days]


def message_document(report: MessageReport) -> dict[str, Any]:
    return {
        "message": report.message,
        "title": report.title,
        "at": report.at,
        "conversion": conversion_document(report.conversion),
        "unsubscribe_window_seconds": report.unsubscribe_window,
        "occurrences": [
            {
                "occurrence": row.occurrence,
                "kind": row.kind,
                "status": row.status,
                "started_at": row.started_at,
                **outcomes_document(row.outcomes),
            }
            for row in report.occurrences
        ],
        "total": outcomes_document(report.total),
        "sends_by_day": days_document(report.days),
    }


def journey_document(report: JourneyReport) -> dict[str, Any]:
    rate = report.conversion_rate
    return {
        "journey": report.journey,
        "title": report.title,
        "at": report.at,
        "conversion": conversion_document(report.conversion),
        "entered": report.entered,
        "customers": report.customers,
        "active": report.active,
        "done": dict(sorted(report.done.items())),
        "exited": dict(sorted(report.exited.items())),
        "converted": report.converted,
        "conversion_rate": round(rate, 4) if rate is not None else None,
        "steps": [
            {
                "step": f.step,
                "kind": f.kind,
                "message": f.message,
                "reached": f.reached,
                "waiting": f.waiting,
                "done": f.done,
                "sent": dict(f.sent),
                "failed": f.failed,
                "skipped": dict(sorted(f.skipped.items())),
                "timed_out": f.timed_out,
                "unsubscribes": f.unsubscribes,
                "converted": f.converted,
            }
            for f in report.steps
        ],
        "sends_by_day": days_document(report.days),
    }
