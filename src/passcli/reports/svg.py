"""Inline SVG charts drawn in Python: no script, no font or image from the network.

Inline in HTML an `<svg>` needs no namespace declaration, so the page names no URL at all.
Every text is escaped; the charts scale with the page (`viewBox`, width 100%).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH = 760
BAR = 26  # one horizontal bar's height
GAP = 10
LABEL = 220  # room for the labels left of the bars
COLORS = {"email": "#3b6ea8", "sms": "#d17b2f", "value": "#3b6ea8"}


def _open(title: str, height: int) -> list[str]:
    return [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]


def funnel_chart(title: str, bars: Sequence[tuple[str, int]]) -> str:
    """Horizontal bars, one per stage in the order given, each with its count."""
    top = max((value for _, value in bars), default=0) or 1
    room = WIDTH - LABEL - 70
    parts = _open(title, len(bars) * (BAR + GAP) + GAP)
    for index, (label, value) in enumerate(bars):
        y = GAP + index * (BAR + GAP)
        baseline = f"{y + BAR * 0.68:.1f}"
        width = round(room * value / top, 1)
        parts += [
            f'<text x="{LABEL - 8}" y="{baseline}" text-anchor="end">{escape(label)}</text>',
            f'<rect x="{LABEL}" y="{y}" width="{max(width, 1)}" height="{BAR}" rx="3" '
            f'fill="{COLORS["value"]}"><title>{escape(label)}: {value}</title></rect>',
            f'<text x="{LABEL + width + 6:.1f}" y="{baseline}">{value}</text>',
        ]
    parts.append("</svg>")
    return "".join(parts)


def days_chart(title: str, days: Sequence[tuple[str, int, int]]) -> str:
    """Stacked columns per day (email below, SMS above), with the day under each column."""
    if not days:
        return f'<p class="empty">{escape(title)}: nothing sent yet.</p>'
    height, bottom, left = 260, 40, 48
    plot = height - bottom - 20
    top = max((email + sms for _, email, sms in days), default=0) or 1
    step = (WIDTH - left - 10) / len(days)
    column = max(min(step * 0.7, 60), 2)
    parts = _open(title, height)
    parts += [
        f'<line x1="{left}" y1="{20 + plot}" x2="{WIDTH - 10}" y2="{20 + plot}" stroke="#999"/>',
        f'<text x="{left - 6}" y="24" text-anchor="end">{top}</text>',
        f'<text x="{left - 6}" y="{20 + plot}" text-anchor="end">0</text>',
    ]
    every = max(1, round(len(days) / 12))  # at most a dozen day labels
    for index, (day, email, sms) in enumerate(days):
        x = left + index * step + (step - column) / 2
        y = 20.0 + plot
        for channel, value in (("email", email), ("sms", sms)):
            if value:
                h = plot * value / top
                y -= h
                tip = f"{escape(day)}: {value} {channel}"
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{column:.1f}" height="{h:.1f}" '
                    f'fill="{COLORS[channel]}"><title>{tip}</title></rect>'
                )
        if index % every == 0:
            parts.append(
                f'<text x="{x + column / 2:.1f}" y="{height - 18}" text-anchor="middle">'
                f"{escape(day[5:])}</text>"
            )
    legend = height - 4
    parts += [
        f'<rect x="{left}" y="{legend - 9}" width="10" height="10" fill="{COLORS["email"]}"/>',
        f'<text x="{left + 14}" y="{legend}">email</text>',
        f'<rect x="{left + 70}" y="{legend - 9}" width="10" height="10" fill="{COLORS["sms"]}"/>',
        f'<text x="{left + 84}" y="{legend}">sms</text>',
        "</svg>",
    ]
    return "".join(parts)
