"""`passcli serve`: the web endpoints (Twilio's SMS webhook, unsubscribe links, /healthz)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from passcli.cli.context import ProjectOption, make_env, wall_clock
from passcli.cli.output import say
from passcli.errors import UsageError


def register(root: typer.Typer) -> None:
    root.command("serve")(serve)


def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on; a reverse proxy sits in front.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port to listen on (0: any free one).")
    ] = 8025,
    project: ProjectOption = None,
) -> None:
    """Run the web endpoints in the foreground: Twilio's inbound SMS webhook, unsubscribe
    links (page and RFC 8058 one-click) and /healthz.

    The webhook needs PASSCLI_TWILIO_AUTH_TOKEN and PASSCLI_PUBLIC_URL, unsubscribe links
    PASSCLI_SECRET_KEY; an endpoint whose settings are missing answers 503, and serve refuses
    to start when neither is set. Every request reads the clock (no --now: the server runs
    for days). One log line per request on stderr. SIGTERM or Ctrl-C stops it after the
    requests in progress. Set-up behind nginx and systemd: docs/serve.md.
    """
    from passcli.web.app import (
        STATUS_PATH,
        Features,
        make_app,
        public_base,
        unsubscribe_url_problem,
    )
    from passcli.web.server import bound_url, listen, run

    env = make_env(ctx, project, None, False, clock=True)
    settings = env.settings
    features = Features.of(settings)
    if features.webhook_url is None and not features.unsubscribe:
        raise UsageError(
            "passcli serve has nothing to serve: set PASSCLI_SECRET_KEY for unsubscribe links, "
            "or PASSCLI_TWILIO_AUTH_TOKEN and PASSCLI_PUBLIC_URL for the Twilio webhook"
        )
    if features.webhook_url is not None:
        env.project()  # invalid project files stop serve now, not the first text
    app = make_app(
        settings,
        env.engine,
        env.project,
        clock=wall_clock,
        branding=env.branding,
        transports_factory=env.transports,
        wall_clock=wall_clock,
        debug=bool(os.environ.get("PASSCLI_DEBUG")),
    )
    sock = listen(host, port)
    say(f"passcli serve: listening on {bound_url(sock)}; Ctrl-C to stop")
    if features.webhook_url is not None:
        say(f"Twilio webhook: {features.webhook_url}")
        say(f"Twilio status callbacks: {public_base(settings)}{STATUS_PATH}")
    else:
        say(f"Twilio webhook: off (answers 503): set {' and '.join(features.webhook_missing)}")
    if features.unsubscribe:
        say(f"unsubscribe links: on; PASSCLI_UNSUBSCRIBE_URL is {settings.unsubscribe_url}")
        problem = unsubscribe_url_problem(settings)
        if problem:
            say(f"warning: {problem}")
    else:
        say("unsubscribe links: off (answer 503): set PASSCLI_SECRET_KEY")
    run(app, sock)
