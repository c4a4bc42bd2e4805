"""The unsubscribe link of a test send (`passcli message test`) through a real server: its
token is genuine but carries a `test:` send key, so neither the page nor its POST changes
anything (the seed who clicked is not the customer it was rendered for)."""

from __future__ import annotations

from passcli.delivery.unsubscribe import Claims, make_token, unsubscribe_link
from passcli.store.schema import consent_changes, customers
from passcli.web.app import UNSUBSCRIBE_PATH

TEST_KEY = "test:news:c1:0123456789abcdef0123456789abcdef"
SENTENCE = "This link came from a test send, so nothing was changed: no one was unsubscribed."


def link_of(site, channel: str) -> str:
    token = make_token(site.settings.secret_key.get_secret_value(), Claims("c1", channel, TEST_KEY))
    return unsubscribe_link(UNSUBSCRIBE_PATH, token)


def state(site):
    [row] = site.rows(customers, customers.c.id == "c1")
    return row["email_opt_in"], row["sms_opt_in"], site.rows(consent_changes)


def test_a_test_sends_link_shows_a_page_without_a_button(site):
    before = state(site)
    with site.client() as client:
        page = client.get(link_of(site, "email"))
    assert page.status_code == 200
    assert "<h1>Test message</h1>" in page.text
    assert SENTENCE in page.text
    assert "<form" not in page.text
    assert state(site) == before


def test_a_one_click_post_of_a_test_sends_link_unsubscribes_nobody(site):
    before = state(site)
    with site.client() as client:
        for channel in ("email", "sms"):
            answer = client.post(
                link_of(site, channel),
                content="List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert answer.status_code == 200
            assert SENTENCE in answer.text
    assert state(site) == before
    assert before[2] == []
