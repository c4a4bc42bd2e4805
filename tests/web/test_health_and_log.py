"""GET /healthz, the log line of every request, and what an unexpected error looks like."""

from __future__ import annotations

from pathlib import Path

from passcli.store import make_engine
from passcli.web.app import HEALTH_PATH
from passcli.web.requestlog import loggable_path

from .conftest import PHONE, inbound_form


def test_healthz_answers_ok_when_the_store_answers(site):
    with site.client() as client:
        answer = client.get(HEALTH_PATH)
    assert (answer.status_code, answer.text) == (200, "ok\n")
    assert answer.headers["content-type"].startswith("text/plain")
    assert site.logs[0].split(" ")[1:4] == ["GET", "/healthz", "200"]


def test_healthz_answers_503_when_the_store_does_not(start_site, tmp_path: Path):
    folder = tmp_path / "gone"
    folder.mkdir()
    broken = make_engine(f"sqlite:///{folder / 'passcli.db'}")
    folder.rmdir()  # SQLite cannot create its file now: every connection fails
    try:
        with start_site(store=broken) as site, site.client() as client:
            answer = client.get(HEALTH_PATH)
    finally:
        broken.dispose()
    assert (answer.status_code, answer.text) == (503, "unavailable\n")


def test_an_unexpected_error_is_a_500_logged_by_its_type_only(start_site):
    def loader():
        raise RuntimeError(f"cannot load, phone {PHONE}")

    with start_site(project_loader=loader) as site, site.client() as client:
        first = site.signed_post(inbound_form("LOYALTY"))
        after = client.get(HEALTH_PATH)  # the server goes on
    assert (first.status_code, first.text) == (500, "internal error\n")
    assert after.status_code == 200
    assert site.logs[0].endswith("ms RuntimeError")
    assert " 500 " in site.logs[0]
    assert not any(PHONE in line for line in site.logs)


def test_debug_adds_the_traceback_to_the_log(start_site):
    def loader():
        raise RuntimeError("boom")

    with start_site(project_loader=loader, debug=True) as site:
        assert site.signed_post(inbound_form("LOYALTY")).status_code == 500
    assert site.logs[0] == "Traceback (most recent call last):"
    assert "RuntimeError: boom" in site.logs
    assert site.logs[-1].endswith("ms RuntimeError")


def test_unknown_paths_and_methods_are_answered_and_logged_safely(site):
    with site.client() as client:
        assert client.get("/nowhere%0Aforged%20line").status_code == 404
        assert client.get("/webhooks/twilio/sms").status_code == 405
        assert client.delete("/unsubscribe").status_code == 405
    assert [line.split(" ")[1:4] for line in site.logs] == [
        ["GET", "/nowhere%0Aforged%20line", "404"],
        ["GET", "/webhooks/twilio/sms", "405"],
        ["DELETE", "/unsubscribe", "405"],
    ]


def test_loggable_path_is_one_short_printable_token():
    assert loggable_path("/a b\nc/é") == "/a%20b%0Ac/%C3%A9"
    assert loggable_path("/" + "x" * 500) == "/" + "x" * 199 + "..."
