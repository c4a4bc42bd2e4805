"""The reports as one self-contained HTML page: inline CSS and SVG, no script, no network.

Every value that comes from the project or the store (names, titles, event names, labels)
is escaped, so a message title cannot inject markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, tzinfo
from html import escape

from passcli.reports.journey import JourneyReport
from passcli.reports.message import MessageReport
from passcli.reports.outcomes import DaySends, Outcomes
from passcli.reports.svg import days_chart, funnel_chart
from passcli.timeutil import iso_utc

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 1100px; padding: 0 1rem; color: #1d2430; background: #fff; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
p.meta { color: #5b6472; margin-top: 0; }
.cards { display: flex; flex-wrap: wrap; gap: 0.8rem; margin: 1rem 0; }
.card { border: 1px solid #dde2ea; border-radius: 6px; padding: 0.6rem 1rem; min-width: 7rem; }
.card b { display: block; font-size: 1.4rem; } .card span { color: #5b6472; font-size: 0.85rem; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #e4e8ee; padding: 0.35rem 0.5rem; text-align: right; }
th:first-child, td:first-child { text-align: left; } th { background: #f4f6f9; }
tr.total td { font-weight: bold; border-top: 2px solid #c9d0da; }
svg.chart { width: 100%; height: auto; font-size: 13px; fill: #1d2430; }
p.empty { color: #5b6472; } footer { margin-top: 2rem; color: #8a93a0; font-size: 0.8rem; }
"""


def _page(title: str, body: Sequence[str]) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _cards(items: Sequence[tuple[str, str]]) -> str:
    cards = "".join(
        f'<div class="card"><b>{escape(value)}</b><span>{escape(label)}</span></div>'
        for label, value in items
    )
    return f'<div class="cards">{cards}</div>'


def _table(columns: Sequence[str], rows: Sequence[Sequence[object]], total: bool) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    lines = []
    for index, row in enumerate(rows):
        cls = ' class="total"' if total and index == len(rows) - 1 else ""
        cells = "".join(f"<td>{escape('' if v is None else str(v))}</td>" for v in row)
        lines.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


def _rate(o: Outcomes) -> str:
    rate = o.conversion_rate
    return "" if rate is None else f"{rate:.1%}"


def _skipped(o: Outcomes) -> str:
    return ", ".join(f"{reason} {count}" for reason, count in sorted(o.skipped.items())) or "0"


def _days(days: Sequence[DaySends]) -> list[tuple[str, int, int]]:
    return [(d.day.isoformat(), d.email, d.sms) for d in days]


def _window(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400} days"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hours"
    return f"{seconds} seconds"


def message_html(report: MessageReport, tz: tzinfo) -> str:
    total = report.total
    name = report.message
    heading = f"{name}: {report.title}" if report.title else name
    conversion = report.conversion
    if conversion is not None:
        rule = (
            f"A delivery converts when its customer has {conversion.event.name}"
            f"{' (filtered)' if conversion.event.where else ''} within "
            f"{_window(conversion.within.total)} after it was sent."
        )
    else:
        rule = "No conversion is defined for this message (conversion: in messages.yaml)."
    funnel: list[tuple[str, int]] = [
        ("audience", total.audience),
        ("sent", total.sent_total),
    ]
    if total.conversions is not None:
        funnel.append(("converted", total.conversions))
    funnel += [
        ("unsubscribed", sum(total.unsubscribes.values())),
        ("failed", total.failed),
        ("skipped", sum(total.skipped.values())),
    ]
    cards = [
        ("occurrences", str(len(report.occurrences))),
        ("audience", str(total.audience)),
        ("sent by email", str(total.sent.get("email", 0))),
        ("sent by SMS", str(total.sent.get("sms", 0))),
        ("failed", str(total.failed)),
        ("unsubscribed", str(sum(total.unsubscribes.values()))),
    ]
    if total.conversions is not None:
        cards += [("converted", str(total.conversions)), ("conversion rate", _rate(total) or "-")]
    columns = [
        "occurrence",
        "kind",
        "status",
        "audience",
        "email",
        "sms",
        "failed",
        "skipped",
        "unsubscribed",
        "converted",
        "rate",
    ]

    def cells(o: Outcomes) -> list[object]:
        return [
            o.audience,
            o.sent.get("email", 0),
            o.sent.get("sms", 0),
            o.failed,
            _skipped(o),
            sum(o.unsubscribes.values()),
            o.conversions,
            _rate(o),
        ]

    rows: list[list[object]] = [
        [row.occurrence, row.kind, row.status, *cells(row.outcomes)] for row in report.occurrences
    ]
    rows.append(["total", "", "", *cells(total)])
    at = report.at.astimezone(tz)
    body = [
        f"<h1>{escape(heading)}</h1>",
        f'<p class="meta">Message report as of {escape(at.isoformat(timespec="minutes"))} '
        f"({escape(iso_utc(report.at.astimezone(UTC)))})</p>",
        _cards(cards),
        f"<p>{escape(rule)} Unsubscribes: the delivery's own link, whenever used, and a STOP "
        f"texted within {escape(_window(report.unsubscribe_window))} after the last text.</p>",
        "<h2>Funnel</h2>",
        funnel_chart(f"{name}: funnel", funnel),
        "<h2>Sends per day</h2>",
        days_chart(f"{name}: sends per day", _days(report.days)),
        "<h2>Occurrences</h2>",
        _table(columns, rows, total=True),
        "<footer>passcli report message</footer>",
    ]
    return _page(f"{heading}: report", body)


def journey_html(report: JourneyReport, tz: tzinfo) -> str:
    name = report.journey
    heading = f"{name}: {report.title}" if report.title else name
    rate = report.conversion_rate
    cards = [
        ("entered", str(report.entered)),
        ("customers", str(report.customers)),
        ("active", str(report.active)),
        ("done", str(sum(report.done.values()))),
        ("exited", str(sum(report.exited.values()))),
        ("converted", str(report.converted)),
    ]
    if rate is not None:
        cards.append(("conversion rate", f"{rate:.1%}"))
    funnel = [("entered", report.entered)] + [
        (f"{f.step} {f.kind}" + (f" ({f.message})" if f.message else ""), f.reached)
        for f in report.steps
    ]
    funnel.append(("converted", report.converted))
    columns = [
        "step",
        "kind",
        "reached",
        "waiting",
        "done",
        "email",
        "sms",
        "failed",
        "skipped",
        "timed out",
        "unsubscribed",
        "converted",
    ]
    rows: list[list[object]] = [
        [
            f.step,
            f.kind + (f" {f.message}" if f.message else ""),
            f.reached,
            f.waiting,
            f.done,
            f.sent.get("email", 0),
            f.sent.get("sms", 0),
            f.failed,
            ", ".join(f"{r} {c}" for r, c in sorted(f.skipped.items())) or "0",
            f.timed_out,
            f.unsubscribes,
            f.converted,
        ]
        for f in report.steps
    ]
    ends = ", ".join(
        f"{reason} {count}" for reason, count in sorted((report.done + report.exited).items())
    )
    at = report.at.astimezone(tz)
    body = [
        f"<h1>{escape(heading)}</h1>",
        f'<p class="meta">Journey report as of {escape(at.isoformat(timespec="minutes"))} '
        f"({escape(iso_utc(report.at.astimezone(UTC)))})</p>",
        _cards(cards),
        f"<p>Ended: {escape(ends or 'none yet')}.</p>",
        "<h2>Funnel</h2>",
        funnel_chart(f"{name}: entries reaching each step", funnel),
        "<h2>Sends per day</h2>",
        days_chart(f"{name}: sends per day", _days(report.days)),
        "<h2>Steps</h2>",
        _table(columns, rows, total=False),
        "<footer>passcli report journey</footer>",
    ]
    return _page(f"{heading}: report", body)
