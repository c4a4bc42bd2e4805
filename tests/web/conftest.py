"""Fixtures for the web tests: the app of `passcli serve` in a real uvicorn server.

The server runs in a thread on a loopback port the OS picked (the socket listens before the
server starts, so requests made at once wait in the backlog instead of failing), and is
stopped when the test ends. Time is pinned (`NOW`); replies go to a recording transport;
log lines are collected. The store is the test's (`engine`, tests/conftest.py), so the
tests run on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import Engine, select

from passcli.branding import Branding
from passcli.delivery.base import Outgoing
from passcli.delivery.transports import Transports
from passcli.importing.load import import_file
from passcli.project import Project, require_project
from passcli.segments.evaluate import known_items
from passcli.settings import Settings, load_settings
from passcli.store import read_transaction
from passcli.web.app import WEBHOOK_PATH, make_app
from passcli.web.server import bound_url, listen, make_server
from passcli.web.signature import twilio_signature

NOW = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)
WALL = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)  # the lease's clock, not `now`
AUTH_TOKEN = "twilio-auth-token-for-tests-0123456"
PUBLIC_URL = "https://passes.example.com/passcli"
PHONE = "+13035550123"

GROUPS_YAML = """\
groups:
  loyalty:
    kind: subscription
    channel: sms
    join_keywords: [LOYALTY]
    join_reply: "Welcome to the Explorer loyalty club! Reply STOP to opt out."
"""

CUSTOMERS_CSV = """\
id,email,phone,first_name,last_name
c1,ada@example.com,+13035550123,Ada,Lovelace
c2,grace@example.com,+13035550124,Grace,Hopper
"""


class Texts:
    """A transport that records what it is given (the SMS replies)."""

    idempotent = False

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    def send(self, message: Outgoing) -> str:
        self.sent.append(message)
        return f"SM{len(self.sent):032x}"

    def close(self) -> None:
        pass


@contextmanager
def running(app: Any) -> Iterator[str]:
    """`app` served by uvicorn in a thread, as `passcli serve` configures it; yields its URL."""
    sock = listen("127.0.0.1", 0)
    server = make_server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield bound_url(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        assert not thread.is_alive(), "the server did not stop"


@dataclass
class Site:
    """A running app over a project and its store, and what it did."""

    url: str
    settings: Settings
    engine: Engine
    dir: Path
    texts: Texts
    logs: list[str] = field(default_factory=list)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def signed_post(
        self,
        params: list[tuple[str, str]],
        *,
        path: str = WEBHOOK_PATH,
        signed_url: str | None = None,
        token: str = AUTH_TOKEN,
    ) -> httpx.Response:
        """POST Twilio's form to `path`, signed as Twilio would for PASSCLI_PUBLIC_URL."""
        url = signed_url if signed_url is not None else self.settings.public_url + path
        signature = twilio_signature(token, url, params)
        with self.client() as client:
            return post_form(client, path, params, {"X-Twilio-Signature": signature})

    def rows(self, table: Any, *where: Any) -> list[dict[str, Any]]:
        with read_transaction(self.engine) as conn:
            found = conn.execute(select(table).where(*where).order_by(*table.primary_key))
            return [dict(r._mapping) for r in found]


def post_form(
    client: httpx.Client,
    path: str,
    params: list[tuple[str, str]],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST form pairs, in order, url-encoded as Twilio sends them."""
    return client.post(
        path,
        content=urlencode(params),
        headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
    )


def inbound_form(
    body: str, sender: str = PHONE, sid: str = "SM" + "a" * 32
) -> list[tuple[str, str]]:
    """The form Twilio posts for an inbound text (the fields that matter, and a few that
    do not, some of them empty, as Twilio sends them)."""
    return [
        ("ToCountry", "US"),
        ("SmsMessageSid", sid),
        ("NumMedia", "0"),
        ("FromCity", ""),
        ("Body", body),
        ("From", sender),
        ("To", "+17205550100"),
        ("MessageSid", sid),
        ("AccountSid", "AC" + "0" * 32),
        ("NumSegments", "1"),
        ("ApiVersion", "2010-04-01"),
    ]


@pytest.fixture
def web_project(project: Path, engine: Engine) -> Path:
    """The test's project with a loyalty club in groups.yaml and two customers with phones."""
    (project / "groups.yaml").write_text(textwrap.dedent(GROUPS_YAML), encoding="utf-8")
    customers = project / "customers.csv"
    customers.write_text(CUSTOMERS_CSV, encoding="utf-8")
    report = import_file(engine, "customers", customers, tz=UTC, region="US", now=NOW)
    assert report.rejected == 0, report.rejections
    return project


@pytest.fixture
def start_site(web_project: Path, engine: Engine) -> Callable[..., Any]:
    """Starts the app over the test's project, as a context manager: `project_loader` and
    `store` replace the project's, other keyword arguments override settings (default: the
    Twilio token and public URL above; the secret key is the project's, from the .env
    `passcli init` wrote)."""

    @contextmanager
    def start(
        project_loader: Callable[[], Project] | None = None,
        store: Engine | None = None,
        debug: bool = False,
        **overrides: Any,
    ) -> Iterator[Site]:
        values = {"twilio_auth_token": AUTH_TOKEN, "public_url": PUBLIC_URL, **overrides}
        settings = load_settings(web_project, **values)
        texts = Texts()
        logs: list[str] = []

        def load() -> Project:
            with read_transaction(engine) as conn:
                items = known_items(conn)
            return require_project(web_project, items)

        key = settings.secret_key
        app = make_app(
            settings,
            store or engine,
            project_loader or load,
            clock=lambda: NOW,
            branding=Branding(
                org_name=settings.org_name,
                dashboard_url=settings.dashboard_url,
                unsubscribe_url=settings.unsubscribe_url,
                secret_key=key.get_secret_value() if key else None,
            ),
            transports_factory=lambda: Transports.fixed(texts, texts),
            wall_clock=lambda: WALL,
            sleep=lambda seconds: None,
            log=logs.append,
            debug=debug,
        )
        with running(app) as url:
            yield Site(url, settings, engine, web_project, texts, logs)

    return start


@pytest.fixture
def site(start_site: Callable[..., Any]) -> Iterator[Site]:
    """The app with the default settings, running."""
    with start_site() as started:
        yield started
