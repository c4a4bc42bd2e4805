"""GET and POST /unsubscribe through a real server: a GET only shows the page (link
scanners follow links), a POST unsubscribes (RFC 8058 one-click, or the page's button), a
forged token gets 400 and changes nothing."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin

import httpx
import pytest

from passcli.delivery.unsubscribe import Claims, make_token, unsubscribe_link
from passcli.store.schema import consent_changes, customers
from passcli.web.app import UNSUBSCRIBE_PATH

from .conftest import NOW

SEND_KEY = "manual:news:2026-11-22T17:00:00Z"
ONE_CLICK = "List-Unsubscribe=One-Click"


class Links(HTMLParser):
    """Every URL a page points at (links, sources, form actions), and its forms' fields."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        for name in ("href", "src", "action", "formaction"):
            if found.get(name) is not None:
                self.urls.append(found[name])
        if tag == "form":
            self.forms.append(
                {"method": found.get("method", "get"), "action": found.get("action"), "fields": []}
            )
        if tag == "input" and self.forms and found.get("name"):
            self.forms[-1]["fields"].append((found["name"], found.get("value", "")))


def parse(page: str) -> Links:
    links = Links()
    links.feed(page)
    return links


def key_of(site) -> str:
    return site.settings.secret_key.get_secret_value()


def link(site, customer_id="c1", channel="email", send_key=SEND_KEY) -> str:
    """The path and query of an unsubscribe link, as a sent message carries it."""
    token = make_token(key_of(site), Claims(customer_id, channel, send_key))
    return unsubscribe_link(UNSUBSCRIBE_PATH, token)


def consent(site, customer_id="c1"):
    [row] = site.rows(customers, customers.c.id == customer_id)
    changes = site.rows(consent_changes, consent_changes.c.customer_id == customer_id)
    return row["email_opt_in"], row["sms_opt_in"], changes


def test_get_shows_a_confirmation_page_and_unsubscribes_nobody(site):
    before = consent(site)
    with site.client() as client:
        page = client.get(link(site))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "Stop receiving emails from Our Organization?" in page.text
    [form] = parse(page.text).forms
    assert form["method"] == "post"
    assert (("List-Unsubscribe", "One-Click")) in form["fields"]
    assert consent(site) == before


def test_a_get_only_link_scanner_unsubscribes_nobody(site):
    """A mail scanner fetches the link, then every URL in what it got, with GET and HEAD
    only, following redirects: the customer stays subscribed."""
    before = consent(site)
    seen: set[str] = set()
    found: list[str] = []
    queue = [site.url + link(site)]
    with httpx.Client(follow_redirects=True, timeout=30) as scanner:
        while queue:
            url = queue.pop()
            if url in seen or not url.startswith(site.url):
                continue
            seen.add(url)
            assert scanner.head(url).status_code < 500
            page = scanner.get(url)
            assert page.status_code < 500
            found += [urljoin(url, target) for target in parse(page.text).urls]
            queue += found
    assert found  # the form's action, fetched with GET like any link
    assert set(found) <= seen
    assert consent(site) == before


def test_a_one_click_post_unsubscribes_and_records_why(site):
    with site.client() as client:
        answer = client.post(
            link(site),
            content=ONE_CLICK,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert answer.status_code == 200
    assert "You are unsubscribed" in answer.text
    email_opt_in, sms_opt_in, changes = consent(site)
    assert (email_opt_in, sms_opt_in) == (False, False)
    [change] = changes
    assert (change["channel"], change["opted_in"], change["source"]) == (
        "email",
        False,
        "unsubscribe",
    )
    assert change["detail"] == SEND_KEY
    assert change["at"] == NOW


def test_a_one_click_post_as_multipart_form_data_works_too(site):
    """RFC 8058 says the POST SHOULD be multipart/form-data and MAY be url-encoded."""
    with site.client() as client:
        answer = client.post(link(site), files={"List-Unsubscribe": (None, "One-Click")})
    assert answer.status_code == 200
    assert consent(site)[0] is False


def test_the_pages_button_unsubscribes_from_its_channel(site):
    with site.client() as client:
        page = client.get(link(site, "c2", "sms"))
        assert "Stop receiving text messages" in page.text
        [form] = parse(page.text).forms
        target = urljoin(str(page.url), form["action"])
        answer = client.post(target, data=dict(form["fields"]))
        again = client.post(target, data=dict(form["fields"]))
    assert answer.status_code == 200
    assert "You will receive no more text messages from Our Organization." in answer.text
    assert again.status_code == 200
    assert "already unsubscribed" in again.text
    email_opt_in, sms_opt_in, changes = consent(site, "c2")
    assert email_opt_in is True
    assert sms_opt_in is False
    assert [c["channel"] for c in changes] == ["sms"]


def forged(site) -> str:
    token = make_token(key_of(site), Claims("c1", "email", SEND_KEY))
    version, payload, signature = token.split(".")
    other = make_token("another key", Claims("c1", "email", SEND_KEY)).split(".")[2]
    return f"{version}.{payload}.{other if other != signature else signature[::-1]}"


@pytest.mark.parametrize(
    "query",
    [
        lambda site: {"token": forged(site)},
        lambda site: {"token": make_token("another key", Claims("c1", "email"))},
        lambda site: {"token": "v1.bm9wZQ.bm9wZQ"},
        lambda site: {"token": ""},
        lambda site: {},
    ],
    ids=["forged signature", "another key", "malformed", "empty", "missing"],
)
def test_a_bad_token_gets_400_and_changes_nothing(site, query):
    before = consent(site)
    path = UNSUBSCRIBE_PATH + ("?" + urlencode(query(site)) if query(site) else "")
    with site.client() as client:
        page = client.get(path)
        post = client.post(
            path, content=ONE_CLICK, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
    assert (page.status_code, post.status_code) == (400, 400)
    assert "<form" not in page.text
    assert consent(site) == before


def test_a_token_for_a_customer_we_no_longer_have_gets_404(site):
    with site.client() as client:
        assert client.post(link(site, "gone")).status_code == 404


def test_the_page_escapes_what_it_shows(start_site):
    with start_site(org_name='<script>alert("x")</script> & Co') as site, site.client() as client:
        page = client.get(link(site)).text
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in page


def test_without_a_secret_key_links_answer_503_and_change_nothing(start_site, web_project):
    (web_project / ".env").write_text("", encoding="utf-8")
    token = make_token("some key", Claims("c1", "email"))
    with start_site() as site, site.client() as client:
        assert client.get(unsubscribe_link(UNSUBSCRIBE_PATH, token)).status_code == 503
        assert client.post(unsubscribe_link(UNSUBSCRIBE_PATH, token)).status_code == 503
    assert consent(site)[0] is True


def test_the_log_never_holds_the_token(site):
    path = link(site)
    token = path.split("token=")[1]
    with site.client() as client:
        client.get(path)
        client.post(path)
    assert [line.split(" ")[1:4] for line in site.logs] == [
        ["GET", "/unsubscribe", "200"],
        ["POST", "/unsubscribe", "200"],
    ]
    assert not any(token[:20] in line or "token" in line for line in site.logs)
