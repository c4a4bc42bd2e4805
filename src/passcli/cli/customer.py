"""`passcli customer ...`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Group
from rich.text import Text

from passcli.cli.context import JsonOption, NowOption, ProjectOption, make_env
from passcli.cli.output import out, print_json, table

app = typer.Typer(help="Look at one customer.", no_args_is_help=True)


@app.command("show")
def show(
    ctx: typer.Context,
    customer_id: Annotated[str, typer.Argument(metavar="ID", help="The customer's id.")],
    events: Annotated[int, typer.Option("--events", help="How many recent events.")] = 20,
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """Profile, purchases, redemptions and recent events of one customer."""
    from passcli.customers import groups_of, load_profile
    from passcli.delivery.log import carrier_label
    from passcli.project import require_project
    from passcli.segments.evaluate import known_items, segments_of
    from passcli.store import read_transaction

    env = make_env(ctx, project, now, json)
    with read_transaction(env.engine) as conn:
        profile = load_profile(conn, customer_id, event_limit=events)
        spec = require_project(env.settings.project_dir, known_items(conn))
        member_of = segments_of(conn, spec.segments, customer_id, env.now, env.settings.tz)
        in_groups = groups_of(conn, spec.groups, customer_id, env.now, env.settings.tz)
    if json:
        print_json(
            {
                "customer": profile.customer,
                "purchases": profile.purchases,
                "redemptions": profile.redemptions,
                "events": profile.events,
                "event_count": profile.event_count,
                "segments": member_of,
                "groups": in_groups,
                "consent": profile.consent,
                "deliveries": profile.deliveries,
            }
        )
        return
    c = profile.customer
    name = " ".join(part for part in (c["first_name"], c["last_name"]) if part) or "(no name)"
    facts = [
        ["email", c["email"], "opted in" if c["email_opt_in"] else "opted out"],
        ["phone", c["phone"], "opted in" if c["sms_opt_in"] else "opted out"],
        ["time zone", c["timezone"] or "(organisation's)", ""],
        ["created", c["created_at"], ""],
    ]
    facts += [[f"attribute {k}", v, ""] for k, v in sorted(c["attributes"].items())]
    out.print(
        Group(
            Text(f"{c['id']}  {name}", style="bold"),
            table(None, ["field", "value", ""], facts),
            Text(""),
            table(
                f"Purchases ({len(profile.purchases)})",
                ["id", "item", "status", "purchased", "expires", "amount"],
                [
                    [
                        p["id"],
                        p["item"],
                        p["status"],
                        p["purchased_at"],
                        p["expires_at"],
                        p["amount"],
                    ]
                    for p in profile.purchases
                ],
            ),
            Text(""),
            table(
                f"Redemptions ({len(profile.redemptions)})",
                ["id", "pass", "location", "redeemed", "points"],
                [
                    [r["id"], r["pass"], r["location"], r["redeemed_at"], r["points"]]
                    for r in profile.redemptions
                ],
            ),
            Text(""),
            Text(f"Segments now: {', '.join(member_of) or '(none)'}"),
            Text(f"Groups now: {', '.join(in_groups) or '(none)'}"),
            Text(""),
            table(
                f"Consent changes ({len(profile.consent)})",
                ["at", "channel", "opted in", "how", "detail"],
                [
                    [
                        k["at"],
                        k["channel"],
                        "yes" if k["opted_in"] else "no",
                        k["source"],
                        k["detail"],
                    ]
                    for k in profile.consent
                ],
            ),
            Text(""),
            table(
                f"Messages received ({len(profile.deliveries)})",
                ["message", "occurrence", "channel", "to", "status", "at", "carrier"],
                [
                    [
                        d["message"],
                        d["occurrence"],
                        d["channel"],
                        d["to"],
                        d["status"],
                        d["at"],
                        carrier_label(d),
                    ]
                    for d in profile.deliveries
                ],
            ),
            Text(""),
            table(
                f"Latest events ({len(profile.events)} of {profile.event_count})",
                ["time", "event", "properties"],
                [[e["ts"], e["event"], e["properties"]] for e in profile.events],
            ),
        )
    )
