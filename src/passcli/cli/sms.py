"""`passcli sms receive`: an inbound text, as if Twilio had delivered it (SPEC §8)."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from passcli.cli.context import JsonOption, NowOption, ProjectOption, make_env, wall_clock
from passcli.cli.output import print_json, say

app = typer.Typer(help="Two-way SMS: keywords, subscriptions, replies.", no_args_is_help=True)


@app.command("receive")
def receive(
    ctx: typer.Context,
    phone: Annotated[
        str, typer.Option("--from", help="The sender's phone number.", show_default=False)
    ],
    body: Annotated[str, typer.Option("--body", help="The text received.", show_default=False)],
    message_sid: Annotated[
        str | None,
        typer.Option(
            "--message-sid",
            help="The provider's id of the message: receiving it again changes nothing.",
        ),
    ] = None,
    project: ProjectOption = None,
    now: NowOption = None,
    json: JsonOption = False,
) -> None:
    """Act on an inbound SMS (STOP, START, HELP, join keywords), store it as an
    `SMS Keyword` event, and send the keyword's reply through the SMS transport."""
    from passcli.sms.inbound import InboundSms, receive_sms

    env = make_env(ctx, project, now, json)
    spec = env.project()
    received = receive_sms(
        env.engine,
        spec,
        InboundSms(phone, body, message_sid),
        now=env.now,
        tz=env.settings.tz,
        region=env.settings.default_region,
        branding=env.branding,
        transports=env.transports(),
        wall_clock=wall_clock,
        sleep=time.sleep,
    )
    if json:
        print_json(received.to_json())
    else:
        who = ", ".join(received.customer_ids) or "no customer yet"
        what = received.keyword or "no keyword"
        if received.duplicate:
            say(f"{received.phone}: already received ({message_sid}); nothing done again")
        else:
            line = f"{received.phone} ({who}): {what}, {received.action}"
            if received.group:
                line += f" {received.group}"
            if received.reply is not None:
                line += f"; reply {received.reply_status}"
            say(line)
    if received.reply_status == "failed":
        raise typer.Exit(1)
