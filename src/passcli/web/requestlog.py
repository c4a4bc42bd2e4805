"""One log line per request, and the one place a request's unexpected error becomes a 500.

The line holds the time, method, path (without its query string: unsubscribe tokens travel
there), status and duration, as `2026-11-22T17:00:00Z POST /unsubscribe 200 3.2ms`. Never
tokens, signatures, phone numbers or message bodies: an error adds only its type, since a
store error's message may quote the values of the row it failed on (PASSCLI_DEBUG=1, passed
in as `debug`, adds the traceback). Like `cli/app.py` for commands, this is the edge where
errors stop: uvicorn never sees one, so it never prints one either.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from datetime import datetime
from urllib.parse import quote

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from passcli.timeutil import iso_utc

LogLine = Callable[[str], None]
MAX_PATH = 200


def stderr_line(line: str) -> None:
    """The default log: a line on stderr, flushed (journald and `docker logs` read it)."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def loggable_path(path: str) -> str:
    """The path as one safe token: percent-encoded beyond printable ASCII (no line breaks
    can be smuggled into the log), and cut short."""
    text = quote(path, safe="/-._~!$&'()*+,;=:@%")
    return text if len(text) <= MAX_PATH else text[:MAX_PATH] + "..."


class RequestLog:
    """ASGI middleware: time each HTTP request, log one line, answer 500 on an error."""

    def __init__(
        self, app: ASGIApp, *, log: LogLine, clock: Callable[[], datetime], debug: bool = False
    ) -> None:
        self.app = app
        self.log = log
        self.clock = clock
        self.debug = debug

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        answered = False
        logged = False

        def write(failure: str = "") -> None:
            nonlocal logged
            logged = True
            elapsed = (time.perf_counter() - started) * 1000
            self.log(
                f"{iso_utc(self.clock())} {scope['method']} {loggable_path(scope['path'])} "
                f"{status} {elapsed:.1f}ms{failure}"
            )

        async def send_and_note(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status = message["status"]
                answered = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                write()  # before the last bytes leave: the client never sees an unlogged answer
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except Exception as exc:  # the request's edge: every error ends here, as a 500
            status = 500
            if self.debug:
                for line in traceback.format_exc().rstrip().splitlines():
                    self.log(line)
            if not logged:
                write(f" {type(exc).__name__}")
            if not answered:
                await PlainTextResponse("internal error\n", 500)(scope, receive, send)
        finally:
            if not logged:  # cancelled (the client went away) before an answer
                write()
