"""`passcli serve`: its help, its refusals, and a real `python -m passcli serve` process
answering /healthz and stopping cleanly on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from passcli.cli.app import app
from passcli.errors import UsageError
from passcli.settings import load_settings
from passcli.web.app import Features, public_base, unsubscribe_url_problem

from .conftest import PUBLIC_URL


def test_serve_help_names_its_options_and_endpoints(runner):
    result = runner.invoke(app, ["serve", "--help"])
    assert result.exit_code == 0
    for text in ("--host", "--port", "--project", "Twilio", "unsubscribe", "/healthz"):
        assert text in result.stdout


def test_serve_refuses_to_start_with_nothing_to_serve(runner, project: Path):
    (project / ".env").write_text("", encoding="utf-8")
    result = runner.invoke(app, ["serve", "--project", str(project), "--port", "0"])
    assert result.exit_code == 2
    assert "passcli serve has nothing to serve: set PASSCLI_SECRET_KEY" in result.stderr


def test_serve_refuses_a_public_url_that_is_not_one(runner, project: Path, monkeypatch):
    monkeypatch.setenv("PASSCLI_TWILIO_AUTH_TOKEN", "token")
    monkeypatch.setenv("PASSCLI_PUBLIC_URL", "sms.example.com")
    result = runner.invoke(app, ["serve", "--project", str(project), "--port", "0"])
    assert result.exit_code == 2
    assert "PASSCLI_PUBLIC_URL must be the http(s) URL Twilio calls" in result.stderr


def test_serve_says_when_its_port_is_taken(runner, project: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["serve", "--project", str(project), "--port", str(port)])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://passes.example.org/unsubscribe", None),
        ("https://passes.example.org/passcli/unsubscribe/", None),
        ("https://example.com/unsubscribe", "still the example"),
        ("https://passes.example.org/optout", "does not end in /unsubscribe"),
        ("http://passes.example.org/unsubscribe", "is not https"),
    ],
)
def test_serve_warns_when_unsubscribe_links_may_miss_it(tmp_path, url, problem):
    found = unsubscribe_url_problem(load_settings(tmp_path, unsubscribe_url=url))
    assert found is None if problem is None else problem in found


def test_features_follow_the_settings(tmp_path):
    none = Features.of(load_settings(tmp_path))
    assert (none.webhook_url, none.unsubscribe) == (None, False)
    assert none.webhook_missing == ("PASSCLI_TWILIO_AUTH_TOKEN", "PASSCLI_PUBLIC_URL")
    both = Features.of(
        load_settings(
            tmp_path, twilio_auth_token="t", public_url="https://a.example/p/", secret_key="k"
        )
    )
    assert (both.webhook_url, both.unsubscribe) == ("https://a.example/p/webhooks/twilio/sms", True)


@pytest.mark.parametrize("url", ["sms.example.com", "ftp://a.example", "https://a.example/?x=1"])
def test_a_public_url_must_be_a_plain_http_url(tmp_path, url):
    with pytest.raises(UsageError, match="PASSCLI_PUBLIC_URL must be"):
        public_base(load_settings(tmp_path, public_url=url))


@pytest.mark.slow
def test_a_real_serve_process_answers_healthz_and_stops_on_sigterm(
    project: Path, database_url: str
):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PASSCLI_")},
        "PASSCLI_PROJECT_DIR": str(project),
        "PASSCLI_DATABASE_URL": database_url,
        "PASSCLI_TWILIO_AUTH_TOKEN": "token-of-the-test",
        "PASSCLI_PUBLIC_URL": PUBLIC_URL + "/",
    }
    with subprocess.Popen(
        [sys.executable, "-m", "passcli", "serve", "--port", "0"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            assert child.stderr is not None
            banner = child.stderr.readline()
            found = re.match(r"passcli serve: listening on (http://127\.0\.0\.1:\d+);", banner)
            assert found, banner
            lines = [child.stderr.readline() for _ in range(3)]
            assert lines[0] == f"Twilio webhook: {PUBLIC_URL}/webhooks/twilio/sms\n"
            assert lines[1] == f"Twilio status callbacks: {PUBLIC_URL}/webhooks/twilio/status\n"
            assert lines[2].startswith("unsubscribe links: on")
            answer = httpx.get(found.group(1) + "/healthz", timeout=30)
            assert (answer.status_code, answer.text) == (200, "ok\n")
            child.send_signal(signal.SIGTERM)
            assert child.wait(timeout=20) == 0
            rest = child.stderr.read()
            assert re.search(r"^\S+Z GET /healthz 200 [\d.]+ms$", rest, re.MULTILINE), rest
            assert child.stdout is not None and child.stdout.read() == ""  # stdout is data
        finally:
            if child.poll() is None:  # never leave a server running behind a failure
                child.kill()
