"""The web application of `passcli serve` (SPEC §8, §11): Twilio's inbound SMS webhook and
status callbacks, the unsubscribe page and RFC 8058 one-click unsubscribes, and a health check.

`make_app` builds it from settings, a store, a project loader and a clock, so tests run it in
a real server with time pinned. Store work runs in Starlette's thread pool (the store is
synchronous SQLAlchemy); the event loop only parses and answers.

Each endpoint works when its settings are there and answers 503 otherwise: the webhook and
the status callbacks need PASSCLI_TWILIO_AUTH_TOKEN and PASSCLI_PUBLIC_URL, unsubscribe links
PASSCLI_SECRET_KEY (`passcli serve` refuses to start when neither can work). Refusals change
nothing: a bad signature gets 403 before the form is looked at, a bad token 400 before the
store is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import anyio
from sqlalchemy import Engine, text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from passcli.branding import Branding
from passcli.delivery.ledger import WallClock
from passcli.delivery.status import Applied, CarrierStatus, apply_carrier_status
from passcli.delivery.transports import Sleep, Transports
from passcli.delivery.unsubscribe import Claims, apply_unsubscribe, verify_token
from passcli.errors import NotFoundError, StoreError, UsageError
from passcli.project import Project
from passcli.settings import Settings
from passcli.sms.inbound import InboundSms, Received, receive_sms
from passcli.store import read_transaction, write_transaction
from passcli.timeutil import iso_utc
from passcli.web.pages import (
    PAGE_HEADERS,
    confirm_page,
    done_page,
    problem_page,
    seed_link_page,
)
from passcli.web.requestlog import LogLine, RequestLog, stderr_line
from passcli.web.signature import valid_twilio_request

WEBHOOK_PATH = "/webhooks/twilio/sms"
STATUS_PATH = "/webhooks/twilio/status"  # delivery/transports.py sends it as StatusCallback
UNSUBSCRIBE_PATH = "/unsubscribe"
HEALTH_PATH = "/healthz"

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
# Twilio's inbound form has a few dozen short fields and a body of at most 1600 characters.
MAX_WEBHOOK_BYTES = 64 * 1024
MAX_WEBHOOK_FIELDS = 100
HEALTH_TIMEOUT = 5.0  # seconds: a store that has not answered by then is down

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Features:
    """What the settings make possible; `missing` says, per feature, which settings lack."""

    webhook_url: str | None  # the URL Twilio must call, when the webhook is on
    unsubscribe: bool
    webhook_missing: tuple[str, ...]

    @classmethod
    def of(cls, settings: Settings) -> Features:
        missing = []
        if settings.twilio_auth_token is None:
            missing.append("PASSCLI_TWILIO_AUTH_TOKEN")
        if not settings.public_url:
            missing.append("PASSCLI_PUBLIC_URL")
        url = None
        if not missing:
            url = public_base(settings) + WEBHOOK_PATH
        return cls(url, settings.secret_key is not None, tuple(missing))


def public_base(settings: Settings) -> str:
    """PASSCLI_PUBLIC_URL without its trailing slash; UsageError unless it is an http(s) URL
    with a host and no query or fragment (paths are fine: a proxy may serve us under one)."""
    raw = (settings.public_url or "").strip()
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise UsageError(
            f"PASSCLI_PUBLIC_URL must be the http(s) URL Twilio calls, such as "
            f"https://sms.example.com, not {raw!r}"
        )
    return raw.rstrip("/")


def unsubscribe_url_problem(settings: Settings) -> str | None:
    """Why the links in messages (PASSCLI_UNSUBSCRIBE_URL) may not reach this server's
    /unsubscribe, or None. A warning, not a refusal: a proxy may map any path to it."""
    url = settings.unsubscribe_url
    parts = urlsplit(url)
    if parts.hostname in ("example.com", "www.example.com"):
        return (
            f"PASSCLI_UNSUBSCRIBE_URL is still the example {url}: "
            f"set it to this server's {UNSUBSCRIBE_PATH}"
        )
    if not parts.path.rstrip("/").endswith(UNSUBSCRIBE_PATH):
        return f"PASSCLI_UNSUBSCRIBE_URL {url} does not end in {UNSUBSCRIBE_PATH}"
    if parts.scheme != "https":
        return (
            f"PASSCLI_UNSUBSCRIBE_URL {url} is not https: "
            "mail providers offer one-click unsubscribe only for https links"
        )
    return None


def make_app(
    settings: Settings,
    engine: Engine,
    project_loader: Callable[[], Project],
    *,
    clock: Clock,
    branding: Branding,
    transports_factory: Callable[[], Transports],
    wall_clock: WallClock,
    sleep: Sleep = time.sleep,
    log: LogLine = stderr_line,
    debug: bool = False,
) -> Starlette:
    """The application. `clock` gives each request's `now` (the server reads the real time;
    tests pin it), `project_loader` the project's files, read again for every text (an
    edited groups.yaml counts at once), `transports_factory` fresh transports per text."""
    endpoints = _Endpoints(
        settings,
        engine,
        project_loader,
        clock,
        branding,
        transports_factory,
        wall_clock,
        sleep,
        log,
    )
    return Starlette(
        routes=[
            Route(WEBHOOK_PATH, endpoints.twilio_sms, methods=["POST"]),
            Route(STATUS_PATH, endpoints.twilio_status, methods=["POST"]),
            Route(UNSUBSCRIBE_PATH, endpoints.unsubscribe_page, methods=["GET"]),
            Route(UNSUBSCRIBE_PATH, endpoints.unsubscribe, methods=["POST"]),
            Route(HEALTH_PATH, endpoints.health, methods=["GET"]),
        ],
        middleware=[Middleware(RequestLog, log=log, clock=clock, debug=debug)],
    )


class _Endpoints:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        project_loader: Callable[[], Project],
        clock: Clock,
        branding: Branding,
        transports_factory: Callable[[], Transports],
        wall_clock: WallClock,
        sleep: Sleep,
        log: LogLine,
    ) -> None:
        self.settings = settings
        self.log = log
        self.engine = engine
        self.project_loader = project_loader
        self.clock = clock
        self.branding = branding
        self.transports_factory = transports_factory
        self.wall_clock = wall_clock
        self.sleep = sleep
        token = settings.twilio_auth_token
        self.auth_token = token.get_secret_value() if token is not None else None
        self.public_url = public_base(settings) if settings.public_url else None
        key = settings.secret_key
        self.secret_key = key.get_secret_value() if key is not None else None

    # -- POST /webhooks/twilio/sms ---------------------------------------------------------

    async def twilio_sms(self, request: Request) -> Response:
        """Twilio's "a message comes in" webhook: checked, applied, answered with TwiML."""
        form = await self._signed_form(request)
        if isinstance(form, Response):
            return form
        sender, body, sid = form.get("From"), form.get("Body", ""), form.get("MessageSid")
        if not isinstance(sender, str) or not sender.strip() or not isinstance(body, str):
            return _text("the form has no sender", 400)
        message = InboundSms(sender, body, sid if isinstance(sid, str) and sid else None)
        try:
            await run_in_threadpool(self._receive, message)
        except UsageError:  # a sender that is no phone number (a short code, garbage)
            return _text("the sender's phone number cannot be read", 400)
        return Response(EMPTY_TWIML, media_type="text/xml")

    async def _signed_form(self, request: Request) -> FormData | Response:
        """The form of a request Twilio signed, or the answer refusing it (503 when the
        Twilio settings are missing, 413, 403 for a bad signature), nothing changed."""
        if self.auth_token is None or self.public_url is None:
            return _text("the Twilio webhook is not configured on this server", 503)
        length = request.headers.get("content-length", "0")
        if not length.isdigit() or int(length) > MAX_WEBHOOK_BYTES:
            return _text("request too large", 413)
        form = await request.form(
            max_files=0, max_fields=MAX_WEBHOOK_FIELDS, max_part_size=MAX_WEBHOOK_BYTES
        )
        params = [(name, value) for name, value in form.multi_items() if isinstance(value, str)]
        # The URL Twilio called, as it was told it (never the Host header we were sent).
        url = self.public_url + request.scope["path"]
        query = request.scope["query_string"].decode("latin-1")
        if query:
            url += "?" + query
        signature = request.headers.get("x-twilio-signature")
        if not valid_twilio_request(self.auth_token, url, params, signature):
            return _text("invalid signature", 403)
        return form

    def _receive(self, message: InboundSms) -> Received:
        project = self.project_loader()
        transports = self.transports_factory()
        try:
            return receive_sms(
                self.engine,
                project,
                message,
                now=self.clock(),
                tz=self.settings.tz,
                region=self.settings.default_region,
                branding=self.branding,
                transports=transports,
                wall_clock=self.wall_clock,
                sleep=self.sleep,
            )
        finally:
            transports.close()

    # -- POST /webhooks/twilio/status ------------------------------------------------------

    async def twilio_status(self, request: Request) -> Response:
        """Twilio's status callback for a text passcli sent: checked like the inbound
        webhook, recorded on the delivery with that MessageSid, answered with an empty 200
        (Twilio reads nothing in it). An unknown MessageSid is logged and changes nothing."""
        form = await self._signed_form(request)
        if isinstance(form, Response):
            return form
        sid = form.get("MessageSid") or form.get("SmsSid")
        status = form.get("MessageStatus") or form.get("SmsStatus")
        if not isinstance(sid, str) or not isinstance(status, str) or not sid or not status:
            return _text("the form has no MessageSid or MessageStatus", 400)
        error = form.get("ErrorCode")
        report = CarrierStatus(
            sid.strip(),
            status.strip().lower(),
            error.strip() if isinstance(error, str) and error.strip() else None,
        )
        applied = await run_in_threadpool(self._apply_status, report)
        if applied is Applied.UNKNOWN_MESSAGE:
            self.log(f"{iso_utc(self.clock())} status callback for unknown MessageSid {sid!r}")
        elif applied is Applied.UNKNOWN_STATUS:
            self.log(f"{iso_utc(self.clock())} status callback with unknown status {status!r}")
        return Response(b"", 200, headers={"Cache-Control": "no-store"})

    def _apply_status(self, report: CarrierStatus) -> Applied:
        with write_transaction(self.engine) as conn:
            return apply_carrier_status(conn, report, self.clock())

    # -- GET and POST /unsubscribe ---------------------------------------------------------

    async def unsubscribe_page(self, request: Request) -> Response:
        """The page an unsubscribe link opens. A GET never unsubscribes: mail scanners and
        link previews follow links; only the page's button (a POST) acts."""
        checked = self._check(request)
        if isinstance(checked, Response):
            return checked
        token, claims = checked
        if claims.from_test_send:
            return _page(seed_link_page())
        return _page(confirm_page(self.branding.org_name, claims.channel, token))

    async def unsubscribe(self, request: Request) -> Response:
        """RFC 8058 one-click (a mail client's POST of `List-Unsubscribe=One-Click`) and the
        page's button, which posts the same. The token in the URL is what counts: the body is
        not read, so either form encoding (or none) is accepted."""
        checked = self._check(request)
        if isinstance(checked, Response):
            return checked
        _, claims = checked
        if claims.from_test_send:
            return _page(seed_link_page())  # a seed is not the customer: nothing changes
        try:
            changed = await run_in_threadpool(self._unsubscribe, claims)
        except NotFoundError:
            return _page(
                problem_page(
                    "Nothing to unsubscribe",
                    "This link names a subscriber we no longer have: nothing was changed.",
                ),
                404,
            )
        return _page(done_page(self.branding.org_name, claims.channel, changed))

    def _check(self, request: Request) -> tuple[str, Claims] | Response:
        """The token and its claims, or the page refusing it (nothing looked up or changed)."""
        if self.secret_key is None:
            return _page(
                problem_page(
                    "Unsubscribe links are not set up",
                    "This server cannot check unsubscribe links yet. Please try again later.",
                ),
                503,
            )
        token = request.query_params.get("token", "").strip()
        if not token:
            return _page(
                problem_page("Incomplete link", "This unsubscribe link is incomplete."), 400
            )
        try:
            return token, verify_token(self.secret_key, token)
        except UsageError:
            return _page(
                problem_page(
                    "Invalid link",
                    "This unsubscribe link is not valid: it may have been cut short or "
                    "altered. Nothing was changed; please use the link from the message.",
                ),
                400,
            )

    def _unsubscribe(self, claims: Claims) -> bool:
        with write_transaction(self.engine) as conn:
            return apply_unsubscribe(conn, claims, self.clock())

    # -- GET /healthz ----------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        """200 `ok` when the store answers a trivial query within HEALTH_TIMEOUT, else 503."""
        try:
            with anyio.fail_after(HEALTH_TIMEOUT):
                await anyio.to_thread.run_sync(self._ping, abandon_on_cancel=True)
        except (StoreError, TimeoutError):
            return _text("unavailable", 503)
        return _text("ok", 200)

    def _ping(self) -> None:
        with read_transaction(self.engine) as conn:
            conn.execute(text("SELECT 1"))


def _text(sentence: str, status: int) -> Response:
    return PlainTextResponse(sentence + "\n", status, headers={"Cache-Control": "no-store"})


def _page(html: str, status: int = 200) -> Response:
    return HTMLResponse(html, status, headers=PAGE_HEADERS)
