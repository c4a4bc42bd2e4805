"""`offer list` and `offer show` data: uses, redemptions and customers in all and by period,
how many may use an offer now, and how many have no use left this period."""

from __future__ import annotations

from datetime import datetime

import pytest

from passcli.errors import UsageError
from passcli.offers.report import Uses, offer_report, offer_summaries
from passcli.store import read_transaction
from passcli.timeutil import UTC, zone

from .conftest import Shop, groups_file

DENVER = zone("America/Denver")
NOW = datetime(2026, 11, 22, 10, tzinfo=DENVER)


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=DENVER)


@pytest.fixture
def history(shop: Shop) -> Shop:
    """Members m1..m3 (m3's membership expired), vip v1; uses in October and November."""
    shop.customer("m1", "m2", "m3", "v1", "x1")
    shop.purchase("m1")
    shop.purchase("m2")
    shop.purchase("m3", expires_at=local("2026-06-01T00:00"))
    shop.member("vip", "v1")
    shop.use("monthly", "m1", local("2026-10-31T23:59:59"), attendees=2)
    shop.use("monthly", "m1", local("2026-11-01T00:00:00"), attendees=3)
    shop.use("monthly", "m1", local("2026-11-20T10:00:00"), attendees=1)
    shop.use("monthly", "m2", local("2026-11-21T10:00:00"), attendees=4)
    shop.use("monthly", "v1", local("2026-09-15T10:00:00"))
    shop.use("lifetime", "m2", local("2025-01-01T10:00:00"))
    return shop


GROUPS = groups_file(
    {
        "monthly": {
            "title": "Members' exclusive ticket",
            "groups": ["members", "vip"],
            "attendees": {"max": 4},
            "usage_limit": {"uses": 4, "per": "month"},
        },
        "lifetime": {"usage_limit": {"uses": 1, "per": "ever"}},
        "unused": {"groups": ["vip"]},
    }
)


def report(shop: Shop, name: str, **kw):
    with read_transaction(shop.engine) as conn:
        return offer_report(conn, GROUPS, name, NOW, DENVER, **kw)


def test_show_counts_uses_by_the_limits_period_with_the_current_one_last(history):
    found = report(history, "monthly", periods=3)

    assert found.per == "month"
    assert [(p.period.label, p.uses) for p in found.periods] == [
        ("2026-09", Uses(uses=1, redemptions=1, customers=1)),
        ("2026-10", Uses(uses=2, redemptions=1, customers=1)),
        ("2026-11", Uses(uses=8, redemptions=3, customers=2)),
    ]
    assert found.periods[-1].period.start == datetime(2026, 11, 1, 6, tzinfo=UTC)
    assert found.total == Uses(uses=11, redemptions=5, customers=3)


def test_show_counts_members_of_any_of_the_offers_groups_and_those_at_the_limit(history):
    found = report(history, "monthly")

    assert found.eligible_customers == 3  # m1, m2 (members), v1 (vip); not m3 nor x1
    assert found.at_limit == 2  # m1 used 4 this month, m2 4 (with four attendees)
    assert len(found.periods) == 12


def test_show_by_another_period_and_a_lifetime_offer_as_one_total(history):
    days = report(history, "monthly", per="day", periods=2)
    assert [(p.period.label, p.uses.uses) for p in days.periods] == [
        ("2026-11-21", 4),
        ("2026-11-22", 0),
    ]

    lifetime = report(history, "lifetime")
    assert lifetime.per == "ever"
    assert [(p.period.label, p.uses) for p in lifetime.periods] == [("ever", Uses(1, 1, 1))]
    assert lifetime.eligible_customers == 5  # no groups: everyone
    assert lifetime.at_limit == 1


def test_show_of_an_offer_without_a_limit_has_no_at_limit_count(history):
    found = report(history, "unused")

    assert found.at_limit is None
    assert found.total == Uses()
    assert found.eligible_customers == 1


def test_show_refuses_an_unknown_period_and_an_unknown_offer(history):
    with pytest.raises(UsageError, match="--per must be one of day, week, month, year, ever"):
        report(history, "monthly", per="fortnight")
    with pytest.raises(UsageError, match="unknown offer 'month'"):
        report(history, "month")


def test_list_gives_every_offer_in_file_order_with_its_uses_in_all(history):
    with read_transaction(history.engine) as conn:
        summaries = offer_summaries(conn, GROUPS)
        nothing = offer_summaries(conn, groups_file({}))

    assert [(s.name, s.total) for s in summaries] == [
        ("monthly", Uses(11, 5, 3)),
        ("lifetime", Uses(1, 1, 1)),
        ("unused", Uses()),
    ]
    assert nothing == []
