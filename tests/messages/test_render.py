"""Template rendering: every SPEC §4 variable, in the organisation's zone, and the sandbox."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from passcli.delivery.manual import send_now
from passcli.delivery.transports import Transports
from passcli.delivery.unsubscribe import Claims, token_from, verify_token
from passcli.messages.preview import preview_message
from passcli.messages.render import RenderError, Template
from passcli.project import Project
from passcli.store import read_transaction

from .conftest import BRANDING, NOW, SECRET, TZ, message_of, segments_of

ALL_VARIABLES = "\n".join(
    [
        "{{ customerFirstName }}|{{ customerLastName }}|{{ customerEmail }}"
        "|{{ customerPhone }}|{{ customerId }}",
        "{{ dashboardUrl }}",
        "{{ organizationName }}",
        "{{ passName }}|{{ passExpiresOn }}|{{ daysUntilExpiration }}|{{ pointsEarned }}",
        "{{ customer.attributes.tier }}|{{ customer.attributes.visits + 1 }}",
        "{{ unsubscribeLink }}",
    ]
)


@pytest.fixture
def ada(store):
    """One customer with several purchases of the pass and check-ins on it."""
    store.item("explorer-pass", "Explorer Pass", duration_days=30)
    store.item("city-pass", "City Pass")
    store.customer(
        "c1",
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        phone="+13035550100",
        attributes={"tier": "gold", "visits": 3},
    )
    at = datetime.fromisoformat
    # Active purchases: the one that expires last gives the pass variables. Its expiry,
    # 2026-12-10T06:30Z, is still December 9th in Denver.
    store.purchase("p1", "c1", "explorer-pass", expires_at=at("2026-11-25T05:00:00+00:00"))
    store.purchase("p2", "c1", "explorer-pass", expires_at=at("2026-12-10T06:30:00+00:00"))
    # Not active at NOW: cancelled, already expired, bought after NOW.
    store.purchase(
        "p3", "c1", "explorer-pass", status="cancelled", expires_at=at("2027-06-01T00:00:00+00:00")
    )
    store.purchase(
        "p4",
        "c1",
        "explorer-pass",
        purchased_at=at("2026-09-01T00:00:00+00:00"),
        expires_at=at("2026-11-01T00:00:00+00:00"),
    )
    store.purchase(
        "p5",
        "c1",
        "explorer-pass",
        purchased_at=at("2026-12-01T00:00:00+00:00"),
        expires_at=at("2027-01-01T00:00:00+00:00"),
    )
    store.redemption("r1", "c1", "explorer-pass", 50, at("2026-11-05T18:00:00+00:00"))
    store.redemption("r2", "c1", "explorer-pass", 25, at("2026-11-20T18:00:00+00:00"))
    store.redemption("r3", "c1", "city-pass", 100, at("2026-11-20T18:00:00+00:00"))
    store.redemption("r4", "c1", "explorer-pass", 40, at("2026-11-23T18:00:00+00:00"))  # later
    return store


def preview(engine, customer_id, now=NOW, branding=BRANDING, **fields):
    spec = message_of(**fields)
    with read_transaction(engine) as conn:
        return preview_message(conn, segments_of(), "m", spec, customer_id, branding, now, TZ)


def test_every_variable_renders_for_a_customer(ada, engine):
    result = preview(
        engine,
        "c1",
        channel="email",
        subject="For {{ customerFirstName }}",
        pass_="explorer-pass",
        body=ALL_VARIABLES,
    )
    lines = result.body.splitlines()
    assert lines[:5] == [
        "Ada|Lovelace|ada@example.com|+13035550100|c1",
        "https://passes.example/pass/c1",
        "Mile High Passes",
        # Days are calendar days in Denver: Dec 9 - Nov 22 (UTC would say Dec 10, 18 days).
        "Explorer Pass|2026-12-09|17|75",
        "gold|4",
    ]
    assert lines[5].startswith("https://passes.example/unsubscribe?token=v1.")
    assert result.subject == "For Ada"
    assert result.to == "ada@example.com"


def test_the_unsubscribe_link_of_a_preview_is_a_valid_token_without_a_send_key(ada, engine):
    result = preview(engine, "c1", channel="sms", body="{{ unsubscribeLink }}")
    assert verify_token(SECRET, token_from(result.body)) == Claims("c1", "sms", None)


def test_days_until_expiration_counts_calendar_days_in_the_org_zone_late_in_the_evening(
    store, engine
):
    store.item("explorer-pass", "Explorer Pass")
    store.customer("c1")
    store.purchase(
        "p1", "c1", "explorer-pass", expires_at=datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
    )
    # 22:30 on Nov 22 in Denver is already Nov 23 in UTC: still 2 days to Nov 24, not 1.
    late = datetime(2026, 11, 23, 5, 30, tzinfo=UTC)
    result = preview(
        engine,
        "c1",
        now=late,
        channel="sms",
        pass_="explorer-pass",
        body="{{ passExpiresOn }} {{ daysUntilExpiration }}",
    )
    assert result.body == "2026-11-24 2"


def test_points_earned_is_zero_without_check_ins(store, engine):
    store.item("explorer-pass", "Explorer Pass")
    store.customer("c1")
    store.purchase("p1", "c1", "explorer-pass", expires_at=datetime(2026, 12, 1, tzinfo=UTC))
    result = preview(
        engine, "c1", channel="sms", pass_="explorer-pass", body="{{ pointsEarned }} points"
    )
    assert result.body == "0 points"


def test_pass_name_falls_back_to_the_item_id_when_the_store_does_not_know_it(store, engine):
    store.customer("c1")
    result = preview(engine, "c1", channel="sms", pass_="mystery-pass", body="{{ passName }}")
    assert result.body == "mystery-pass"


def test_a_blank_first_name_renders_empty_not_none(store, engine):
    store.customer("c2", first_name=None, last_name=None, phone=None)
    result = preview(
        engine,
        "c2",
        channel="email",
        subject="Hi {{ customerFirstName }}!",
        body="Hi {{ customerFirstName }} {{ customerLastName }},\n{{ customerPhone }}.",
    )
    assert result.subject == "Hi !"
    assert result.body == "Hi  ,\n."
    assert "None" not in result.body


def test_a_missing_attribute_is_a_render_error_never_a_blank(store, engine):
    store.customer("c1", attributes={})
    result = preview(engine, "c1", channel="sms", body="Tier: {{ customer.attributes.tier }}")
    assert result.skip_reason == "render_error"
    assert result.subject is None
    assert result.body.startswith("(cannot render:")
    assert "tier" in result.body


def test_html_is_escaped_and_text_is_not(store, engine):
    store.customer("c1", first_name="<b>Bo</b> & co")
    result = preview(
        engine,
        "c1",
        channel="email",
        subject="{{ customerFirstName }}",
        body="{{ customerFirstName }}",
        html="<p>{{ customerFirstName }}</p>",
    )
    assert result.body == "<b>Bo</b> & co"
    assert result.subject == "<b>Bo</b> & co"
    html = Template("<p>{{ customerFirstName }}</p>", html=True).render(
        {"customerFirstName": "<b>Bo</b> & co"}
    )
    assert html == "<p>&lt;b&gt;Bo&lt;/b&gt; &amp; co</p>"


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ joiner.__init__.__globals__.os }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ lipsum.__globals__['os'] }}",
        "{{ self.__init__.__globals__ }}",
        "{{ customer.attributes.__class__.__base__.__subclasses__() }}",
        "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
        "{{ '{0.__class__.__mro__}'.format(customer) }}",
        "{{ customerId.__class__.__init__.__globals__ }}",
    ],
)
def test_the_sandbox_refuses_python_internals(source):
    variables = {"customer": {"attributes": {}}, "customerId": "c1"}
    with pytest.raises(RenderError) as caught:
        Template(source).render(variables)
    message = str(caught.value)
    # Nothing of the objects reached is shown: no reprs, no addresses, no module contents.
    assert "<" not in message
    assert "0x" not in message


def test_a_send_of_a_template_reaching_internals_skips_everyone_as_render_error(
    store, engine, tmp_path
):
    store.customer("c1")
    store.customer("c2")
    spec = message_of(channel="email", subject="x", body="{{ cycler.__init__.__globals__ }}")
    project = Project(directory=tmp_path, segments=segments_of(), messages={"m": spec})

    def no_transport(channel):
        raise AssertionError("a dry run calls no transport")

    report = send_now(
        engine,
        project,
        "m",
        now=NOW,
        tz=TZ,
        branding=BRANDING,
        transports=Transports(no_transport),
        wall_clock=lambda: NOW,
        sleep=lambda seconds: None,
        dry_run=True,
    )
    assert report.audience == 2
    assert report.skipped == {"render_error": 2}
    assert report.sent == {"email": 0, "sms": 0}
    assert list(report.recipients) == []
