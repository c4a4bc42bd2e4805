"""`passcli offer list|show|check|redeem` (SPEC §9).

`offer check` exits 0 when the customer may use the offer now and 1 when not, saying why in
one sentence on stderr, so that scripts can write `passcli offer check ... && ...`; with
--json it prints the same document either way. `offer redeem` exits 1 when it refuses (and
records nothing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Group
from rich.text import Text

from passcli.cli.context import JsonOption, NowOption, ProjectOption, make_env
from passcli.cli.output import out, print_json, say, table
from passcli.errors import OfferRefused
from passcli.timeutil import iso_utc

if TYPE_CHECKING:
    from passcli.groups.spec import OfferSpec, UsageLimit
    from passcli.offers.report import Uses
    from passcli.offers.usage import OfferCheck, Period, Redemption

app = typer.Typer(
    help="Offers of groups.yaml: who may use them, and recording uses.", no_args_is_help=True
)

NameArgument = Annotated[str, typer.Argument(help="The offer's name.")]
CustomerOption = Annotated[
    str, typer.Option("--customer", metavar="ID", help="The customer's id.", show_default=False)
]
AttendeesOption = Annotated[
    int,
    typer.Option(
        "--attendees",
        min=1,
        help="How many people this use admits, the holder included; it counts that many uses.",
    ),
]


@app.command("list")
def list_offers(
    ctx: typer.Context,
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """Each offer with its groups, attendees, usage limit and uses so far."""
    from passcli.offers.report import offer_summaries
    from passcli.store import read_transaction

    env = make_env(ctx, project, now, json)
    groups = env.project().groups
    with read_transaction(env.engine) as conn:
        summaries = offer_summaries(conn, groups)
    if json:
        print_json(
            {
                "at": env.now,
                "offers": [
                    {"name": s.name, **_spec_document(s.spec), **_uses_document(s.total)}
                    for s in summaries
                ],
            }
        )
        return
    if not summaries:
        say("groups.yaml declares no offers")
        return
    rows: list[list[Any]] = [
        [
            s.name,
            "yes" if s.spec.enabled else "no",
            ", ".join(s.spec.groups) or "(everyone)",
            s.spec.attendees.max,
            _limit_text(s.spec.usage_limit),
            s.total.uses,
            s.total.customers,
        ]
        for s in summaries
    ]
    columns = ["offer", "enabled", "groups", "attendees", "limit", "uses", "customers"]
    out.print(table(None, columns, rows))


@app.command("show")
def show(
    ctx: typer.Context,
    name: NameArgument,
    per: Annotated[
        str | None,
        typer.Option(
            "--per",
            help="Count by day, week, month, year or ever (default: the limit's period).",
            show_default=False,
        ),
    ] = None,
    periods: Annotated[
        int, typer.Option("--periods", min=1, help="How many periods, the current one last.")
    ] = 12,
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """The offer, and its uses and customers by period."""
    from passcli.offers.report import offer_report
    from passcli.store import read_transaction

    env = make_env(ctx, project, now, json)
    groups = env.project().groups
    with read_transaction(env.engine) as conn:
        report = offer_report(conn, groups, name, env.now, env.settings.tz, per, periods)
    if json:
        print_json(
            {
                "offer": report.name,
                "at": report.at,
                **_spec_document(report.spec),
                "per": report.per,
                "periods": [
                    {**_period_document(p.period), **_uses_document(p.uses)} for p in report.periods
                ],
                "total": _uses_document(report.total),
                "eligible_customers": report.eligible_customers,
                "at_limit": report.at_limit,
            }
        )
        return
    spec = report.spec
    total = report.total
    at_limit = ""
    if report.at_limit is not None:
        at_limit = f"; {report.at_limit} at the limit{_limit_period_words(spec.usage_limit)}"
    facts = [
        ["enabled", "yes" if spec.enabled else "no"],
        ["groups", ", ".join(spec.groups) or "(everyone)"],
        ["items", ", ".join(spec.items)],
        ["attendees", f"up to {spec.attendees.max}, the holder included"],
        ["limit", _limit_text(spec.usage_limit)],
        ["customers", f"{_count(report.eligible_customers, 'customer')} may use it now{at_limit}"],
        [
            "in all",
            f"{_count(total.uses, 'use')} in {_count(total.redemptions, 'redemption')} by "
            f"{_count(total.customers, 'customer')}",
        ],
    ]
    rows = [
        [p.period.label, p.uses.uses, p.uses.redemptions, p.uses.customers] for p in report.periods
    ]
    title = f"{report.name}: {spec.title}" if spec.title else report.name
    parts: list[Any] = [Text(title, style="bold")]
    if spec.description:
        parts.append(Text(spec.description.strip()))
    parts += [
        table(None, ["field", "value"], facts),
        Text(""),
        table(None, [report.per, "uses", "redemptions", "customers"], rows),
    ]
    out.print(Group(*parts))


@app.command("check")
def check(
    ctx: typer.Context,
    name: NameArgument,
    customer: CustomerOption,
    attendees: AttendeesOption = 1,
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """Whether the customer may use the offer now and the uses left this period.

    Exits 0 when they may, 1 when not (with the reason on stderr)."""
    from passcli.offers.usage import check_offer
    from passcli.store import read_transaction

    env = make_env(ctx, project, now, json)
    groups = env.project().groups
    with read_transaction(env.engine) as conn:
        result = check_offer(
            conn, groups, name, customer, env.now, env.settings.tz, attendees=attendees
        )
    if json:
        print_json(_check_document(result))
    else:
        verdict = "yes" if result.eligible else f"no ({result.reason})"
        out.print(
            table(
                None,
                ["field", "value"],
                [
                    ["offer", result.offer],
                    ["customer", result.customer_id],
                    ["may use it now", verdict],
                    *_usage_rows(result),
                ],
            )
        )
    if not result.eligible:
        say(result.message or "the customer may not use this offer now")
        raise typer.Exit(1)


@app.command("redeem")
def redeem(
    ctx: typer.Context,
    name: NameArgument,
    customer: CustomerOption,
    attendees: AttendeesOption = 1,
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """Record one use of the offer, atomically; refused (exit 1, nothing recorded) when
    the customer may not use it, e.g. past its usage limit."""
    from passcli.offers.usage import redeem_offer

    env = make_env(ctx, project, now, json)
    groups = env.project().groups
    try:
        done = redeem_offer(
            env.engine, groups, name, customer, env.now, env.settings.tz, attendees=attendees
        )
    except OfferRefused as exc:
        if json:  # the document says why too; cli/app.py prints the sentence and exits 1
            print_json(_refused_document(exc.check))
        raise
    if json:
        print_json(_redemption_document(done))
        return
    people = f" for {done.attendees} attendees" if done.attendees > 1 else ""
    out.print(f"redeemed {done.offer} for {done.customer_id}{people} (use {done.use_id})")
    out.print(table(None, ["field", "value"], _usage_rows(done)))


# -- documents and text -------------------------------------------------------------------------


def _spec_document(spec: OfferSpec) -> dict[str, Any]:
    return {
        "title": spec.title,
        "description": spec.description,
        "enabled": spec.enabled,
        "groups": list(spec.groups),
        "items": list(spec.items),
        "max_attendees": spec.attendees.max,
        "limit": _limit_document(spec.usage_limit),
    }


def _limit_document(limit: UsageLimit | None) -> dict[str, Any] | None:
    return None if limit is None else {"uses": limit.uses, "per": limit.per}


def _period_document(period: Period) -> dict[str, Any]:
    return {
        "per": period.per,
        "label": period.label,
        "start": period.start,
        "end": period.end,
    }


def _uses_document(uses: Uses) -> dict[str, Any]:
    return {"uses": uses.uses, "redemptions": uses.redemptions, "customers": uses.customers}


def _usage_document(result: OfferCheck | Redemption) -> dict[str, Any]:
    return {
        "max_attendees": result.max_attendees,
        "limit": _limit_document(result.limit),
        "period": _period_document(result.period),
        "used": result.used,
        "remaining": result.remaining,
    }


def _check_document(result: OfferCheck) -> dict[str, Any]:
    return {
        "offer": result.offer,
        "customer_id": result.customer_id,
        "at": result.at,
        "attendees": result.attendees,
        "eligible": result.eligible,
        "reason": result.reason,
        "message": result.message,
        **_usage_document(result),
    }


def _redemption_document(done: Redemption) -> dict[str, Any]:
    return {
        "offer": done.offer,
        "customer_id": done.customer_id,
        "at": done.at,
        "attendees": done.attendees,
        "redeemed": True,
        "use_id": done.use_id,
        "reason": None,
        "message": None,
        **_usage_document(done),
    }


def _refused_document(result: OfferCheck) -> dict[str, Any]:
    return {
        "offer": result.offer,
        "customer_id": result.customer_id,
        "at": result.at,
        "attendees": result.attendees,
        "redeemed": False,
        "use_id": None,
        "reason": result.reason,
        "message": result.message,
        **_usage_document(result),
    }


def _usage_rows(result: OfferCheck | Redemption) -> list[list[Any]]:
    period = result.period
    if period.start is not None and period.end is not None:
        when = f"{period.label} ({iso_utc(period.start)} to {iso_utc(period.end)})"
    else:
        when = "ever"
    if result.limit is None:
        used = f"{result.used} (no limit)"
    else:
        used = f"{result.used} of {result.limit.uses}"
    rows: list[list[Any]] = [["period", when], ["used", used]]
    if result.remaining is not None:
        rows.append(["remaining", result.remaining])
    rows.append(["attendees", f"{result.attendees} (at most {result.max_attendees})"])
    return rows


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _limit_text(limit: UsageLimit | None) -> str:
    if limit is None:
        return "unlimited"
    uses = f"{limit.uses} use{'' if limit.uses == 1 else 's'}"
    return f"{uses} in all" if limit.per == "ever" else f"{uses} a {limit.per}"


def _limit_period_words(limit: UsageLimit | None) -> str:
    words = {"day": "today", "week": "this week", "month": "this month", "year": "this year"}
    word = words.get(limit.per) if limit is not None else None
    return f" {word}" if word else ""
