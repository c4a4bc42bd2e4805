"""Running the web application on uvicorn: the listening socket, the server, the signals.

The socket is bound (and listening) before uvicorn starts, so a taken port is one sentence
and exit 1 rather than uvicorn's log and `sys.exit`, port 0 picks a free port that the
caller can print, and connections made meanwhile wait in the backlog. uvicorn's own access
log is off (it would print the query string, where unsubscribe tokens travel); the app logs
its own line per request (requestlog.py).
"""

from __future__ import annotations

import signal
import socket
from types import FrameType

import uvicorn
from starlette.types import ASGIApp

from passcli.errors import PasscliError, UsageError

GRACEFUL_SECONDS = 10  # requests in progress get this long to finish after SIGTERM


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port and listening."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise UsageError(f"cannot listen on {host}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise PasscliError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def bound_url(sock: socket.socket) -> str:
    """`http://HOST:PORT` of a listening socket (the port it really got, for port 0)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def make_server(app: ASGIApp) -> uvicorn.Server:
    """A uvicorn server for `app`: HTTP/1.1 on asyncio, no websockets, no lifespan, no
    access log, no logging set-up of its own (its warnings reach stderr as plain lines)."""
    config = uvicorn.Config(
        app,
        loop="asyncio",
        http="h11",
        ws="none",
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
        proxy_headers=False,  # the app never reads the client's address or scheme
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
    )
    return uvicorn.Server(config)


def run(app: ASGIApp, sock: socket.socket) -> None:
    """Serve on `sock` until SIGTERM or SIGINT, then finish the requests in progress and
    return (so the process exits 0, as `passcli scheduler` does).

    uvicorn re-raises the signal that stopped it once it has shut down, to the handler that
    was there before it; that handler is ours, and does nothing, so the stop is clean."""

    def stopped(signum: int, frame: FrameType | None) -> None:
        """Reached only after uvicorn's graceful shutdown: nothing left to do."""

    previous = {sig: signal.signal(sig, stopped) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        make_server(app).run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
