"""check_offer and redeem_offer: limits per calendar period across their boundaries,
attendees, disabled offers, group eligibility, unknown names, and what a refusal records."""

from __future__ import annotations

from datetime import datetime

import pytest

from passcli.errors import NotFoundError, OfferRefused, UsageError
from passcli.offers.usage import REASONS, check_offer, redeem_offer
from passcli.store import read_transaction
from passcli.timeutil import UTC, zone

from .conftest import Shop, groups_file

DENVER = zone("America/Denver")
LONDON = zone("Europe/London")


def local(text: str, tz=DENVER, fold: int = 0) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz, fold=fold)


def open_offer(**fields):
    """groups.yaml with one offer `o` open to everyone (no groups) and these fields."""
    return groups_file({"o": fields})


def check(shop: Shop, groups, customer: str, now: datetime, tz=DENVER, offer="o", **kw):
    with read_transaction(shop.engine) as conn:
        return check_offer(conn, groups, offer, customer, now, tz, **kw)


def redeem(shop: Shop, groups, customer: str, now: datetime, tz=DENVER, offer="o", **kw):
    return redeem_offer(shop.engine, groups, offer, customer, now, tz, **kw)


def refused(shop: Shop, groups, customer: str, now: datetime, tz=DENVER, **kw) -> str:
    """Redeem, expecting a refusal; its reason (nothing may have been recorded)."""
    before = shop.uses()
    with pytest.raises(OfferRefused) as caught:
        redeem(shop, groups, customer, now, tz, **kw)
    assert shop.uses() == before
    assert caught.value.check.reason in REASONS
    assert str(caught.value) == caught.value.check.message
    return str(caught.value.check.reason)


# -- limits across period boundaries ------------------------------------------------------------


def test_a_monthly_limit_is_spent_until_the_last_second_of_the_month_and_renews_at_midnight(
    shop,
):
    shop.customer("c1")
    groups = open_offer(usage_limit={"uses": 2, "per": "month"})
    last_second = local("2026-11-30T23:59:59")
    midnight = local("2026-12-01T00:00:00")

    redeem(shop, groups, "c1", local("2026-11-01T00:00:00"))  # the month's first second
    done = redeem(shop, groups, "c1", last_second)
    assert (done.used, done.remaining, done.period.label) == (2, 0, "2026-11")

    spent = check(shop, groups, "c1", last_second)
    assert not spent.eligible
    assert (spent.reason, spent.used, spent.remaining) == ("limit_reached", 2, 0)
    assert spent.message == ("customer 'c1' has used all 2 uses of offer 'o' this month (2026-11)")
    assert refused(shop, groups, "c1", last_second) == "limit_reached"

    renewed = check(shop, groups, "c1", midnight)
    assert renewed.eligible and (renewed.used, renewed.remaining) == (0, 2)
    assert renewed.period.label == "2026-12"
    assert renewed.period.start == datetime(2026, 12, 1, 7, tzinfo=UTC)
    assert redeem(shop, groups, "c1", midnight).remaining == 1


def test_a_weekly_limit_renews_between_sunday_night_and_monday_midnight(shop):
    shop.customer("c1")
    groups = open_offer(usage_limit={"uses": 1, "per": "week"})

    redeem(shop, groups, "c1", local("2026-11-22T23:59:59"))  # Sunday

    assert refused(shop, groups, "c1", local("2026-11-16T00:00:00")) == "limit_reached"  # Monday
    monday = redeem(shop, groups, "c1", local("2026-11-23T00:00:00"))
    assert (monday.period.label, monday.used) == ("2026-W48", 1)


@pytest.mark.parametrize(
    ("day", "tz", "first", "last", "next_day"),
    [
        # Denver springs forward: 02:00 does not exist, the day is 23 hours.
        ("2026-03-08", DENVER, "00:00:00", "23:59:59", "2026-03-09T00:00:00"),
        # Denver falls back: 01:00-02:00 happens twice, the day is 25 hours.
        ("2026-11-01", DENVER, "00:00:00", "23:59:59", "2026-11-02T00:00:00"),
        ("2026-03-29", LONDON, "00:00:00", "23:59:59", "2026-03-30T00:00:00"),
        ("2026-10-25", LONDON, "00:00:00", "23:59:59", "2026-10-26T00:00:00"),
    ],
)
def test_a_daily_limit_on_dst_change_days_runs_from_local_midnight_to_local_midnight(
    shop, day, tz, first, last, next_day
):
    shop.customer("c1")
    groups = open_offer(usage_limit={"uses": 1, "per": "day"})

    redeem(shop, groups, "c1", local(f"{day}T{first}", tz), tz)

    assert refused(shop, groups, "c1", local(f"{day}T{last}", tz), tz) == "limit_reached"
    assert redeem(shop, groups, "c1", local(next_day, tz), tz).period.label == next_day[:10]


def test_both_passes_through_the_repeated_hour_of_a_fall_back_night_are_the_same_day(shop):
    shop.customer("c1")
    groups = open_offer(usage_limit={"uses": 2, "per": "day"})

    redeem(shop, groups, "c1", local("2026-11-01T01:30", fold=0))  # 07:30Z, MDT
    redeem(shop, groups, "c1", local("2026-11-01T01:30", fold=1))  # 08:30Z, MST

    assert refused(shop, groups, "c1", local("2026-11-01T23:00")) == "limit_reached"


def test_a_yearly_limit_renews_at_local_midnight_on_new_years_day(shop):
    shop.customer("c1")
    groups = open_offer(usage_limit={"uses": 1, "per": "year"})

    redeem(shop, groups, "c1", local("2026-12-31T23:59:59"))

    assert refused(shop, groups, "c1", local("2026-01-01T00:00:00")) == "limit_reached"
    assert redeem(shop, groups, "c1", local("2027-01-01T00:00:00")).period.label == "2027"


def test_a_lifetime_limit_counts_every_use_ever(shop):
    shop.customer("c1")
    groups = open_offer(usage_limit={"uses": 3, "per": "ever"})
    shop.use("o", "c1", local("2019-05-01T10:00"))
    shop.use("o", "c1", local("2025-05-01T10:00"))

    last = redeem(shop, groups, "c1", local("2026-11-22T10:00"))

    assert (last.used, last.remaining, last.period.label) == (3, 0, "ever")
    assert (last.period.start, last.period.end) == (None, None)
    assert refused(shop, groups, "c1", local("2030-01-01T10:00")) == "limit_reached"
    assert check(shop, groups, "c1", local("2030-01-01T10:00")).message == (
        "customer 'c1' has used all 3 uses of offer 'o'"
    )


def test_an_offer_without_a_limit_is_never_spent(shop):
    shop.customer("c1")
    groups = open_offer(attendees={"max": 2})
    for _ in range(5):
        redeem(shop, groups, "c1", local("2026-11-22T10:00"), attendees=2)

    result = check(shop, groups, "c1", local("2026-11-22T10:00"))

    assert result.eligible
    assert (result.limit, result.used, result.remaining) == (None, 10, None)
    assert result.period.per == "ever"


def test_a_limit_counts_a_use_recorded_later_in_the_same_period(shop):
    """Uses are counted per period whatever order they are recorded in (with --now in the
    past), so the limit holds."""
    shop.customer("c1")
    groups = open_offer(usage_limit={"uses": 1, "per": "month"})
    shop.use("o", "c1", local("2026-11-29T10:00"))

    assert check(shop, groups, "c1", local("2026-11-02T10:00")).used == 1
    assert refused(shop, groups, "c1", local("2026-11-02T10:00")) == "limit_reached"


def test_limits_are_per_customer_and_per_offer(shop):
    shop.customer("c1", "c2")
    groups = groups_file(
        {
            "o": {"usage_limit": {"uses": 1, "per": "day"}},
            "other": {"usage_limit": {"uses": 1, "per": "day"}},
        }
    )
    now = local("2026-11-22T10:00")
    redeem(shop, groups, "c1", now)

    assert redeem(shop, groups, "c2", now).used == 1
    assert redeem(shop, groups, "c1", now, offer="other").used == 1
    assert refused(shop, groups, "c1", now) == "limit_reached"


# -- attendees ----------------------------------------------------------------------------------


def test_a_use_with_attendees_counts_each_of_them(shop):
    shop.customer("c1")
    groups = open_offer(attendees={"max": 4}, usage_limit={"uses": 10, "per": "month"})
    now = local("2026-11-22T10:00")

    done = redeem(shop, groups, "c1", now, attendees=4)

    assert (done.attendees, done.used, done.remaining) == (4, 4, 6)
    assert shop.uses() == [("o", "c1", 4, now.astimezone(UTC))]


def test_attendees_beyond_the_maximum_are_refused_and_the_maximum_counts_the_holder(shop):
    shop.customer("c1")
    groups = open_offer(attendees={"max": 4})
    now = local("2026-11-22T10:00")

    assert redeem(shop, groups, "c1", now, attendees=4).attendees == 4
    assert refused(shop, groups, "c1", now, attendees=5) == "too_many_attendees"
    assert check(shop, groups, "c1", now, attendees=5).message == (
        "offer 'o' admits at most 4 attendees per use, the holder included, not 5"
    )


def test_an_offer_for_personal_use_only_admits_the_holder_alone(shop):
    shop.customer("c1")
    groups = open_offer()
    now = local("2026-11-22T10:00")

    assert check(shop, groups, "c1", now).max_attendees == 1
    assert refused(shop, groups, "c1", now, attendees=2) == "too_many_attendees"
    assert check(shop, groups, "c1", now, attendees=2).message == (
        "offer 'o' admits at most 1 attendee per use, the holder included, not 2"
    )


def test_more_attendees_than_uses_left_is_refused_and_fewer_still_fit(shop):
    shop.customer("c1")
    groups = open_offer(attendees={"max": 4}, usage_limit={"uses": 10, "per": "month"})
    now = local("2026-11-22T10:00")
    shop.use("o", "c1", now, attendees=4)
    shop.use("o", "c1", now, attendees=4)

    assert refused(shop, groups, "c1", now, attendees=3) == "limit_reached"
    assert check(shop, groups, "c1", now, attendees=3).message == (
        "customer 'c1' has 2 uses of offer 'o' left this month (2026-11), "
        "not enough for 3 attendees"
    )
    assert redeem(shop, groups, "c1", now, attendees=2).remaining == 0


@pytest.mark.parametrize("attendees", [0, -1])
def test_fewer_than_one_attendee_is_bad_usage(shop, attendees):
    shop.customer("c1")
    groups = open_offer()
    now = local("2026-11-22T10:00")

    with pytest.raises(UsageError, match="attendees must be at least 1"):
        check(shop, groups, "c1", now, attendees=attendees)
    with pytest.raises(UsageError):
        redeem(shop, groups, "c1", now, attendees=attendees)
    assert shop.uses() == []


# -- enabled, groups and reasons ----------------------------------------------------------------


def test_a_disabled_offer_refuses_everyone_but_still_reports_the_uses(shop):
    shop.customer("c1")
    groups = open_offer(enabled=False, usage_limit={"uses": 5, "per": "month"})
    now = local("2026-11-22T10:00")
    shop.use("o", "c1", now)

    result = check(shop, groups, "c1", now)

    assert (result.reason, result.message) == ("disabled", "offer 'o' is disabled")
    assert (result.used, result.remaining) == (1, 4)
    assert refused(shop, groups, "c1", now) == "disabled"


def test_the_first_failing_check_names_the_refusal(shop):
    shop.customer("c1")
    now = local("2026-11-22T10:00")
    shop.use("o", "c1", now)
    spent = {"usage_limit": {"uses": 1, "per": "day"}}

    assert check(shop, open_offer(**spent), "c1", now, attendees=2).reason == ("too_many_attendees")
    vip_only = groups_file({"o": {"groups": ["vip"], **spent}})
    assert check(shop, vip_only, "c1", now, attendees=2).reason == "not_in_group"
    disabled = groups_file({"o": {"groups": ["vip"], "enabled": False, **spent}})
    assert check(shop, disabled, "c1", now, attendees=2).reason == "disabled"


def test_a_manual_group_offer_is_for_the_groups_members_only(shop):
    shop.customer("c1", "c2")
    shop.member("vip", "c1")
    groups = groups_file({"o": {"groups": ["vip"]}})
    now = local("2026-11-22T10:00")

    assert check(shop, groups, "c1", now).eligible
    outsider = check(shop, groups, "c2", now)
    assert outsider.reason == "not_in_group"
    assert outsider.message == "customer 'c2' is not in group 'vip' of offer 'o'"
    assert refused(shop, groups, "c2", now) == "not_in_group"
    assert redeem(shop, groups, "c1", now).used == 1


def test_a_membership_group_offer_is_for_holders_of_an_active_purchase_now(shop):
    now = local("2026-11-22T10:00")
    shop.customer("active", "expired", "cancelled", "future", "nothing")
    shop.purchase("active", expires_at=local("2027-01-01T00:00"))
    shop.purchase("expired", expires_at=local("2026-11-22T09:59"))
    shop.purchase("cancelled", status="cancelled")
    shop.purchase("future", purchased_at=local("2026-11-22T10:01"))
    groups = groups_file({"o": {"groups": ["members"]}})

    eligible = {
        c
        for c in ("active", "expired", "cancelled", "future", "nothing")
        if check(shop, groups, c, now).eligible
    }

    assert eligible == {"active"}
    # Once the purchase has started, the future holder is a member too.
    assert check(shop, groups, "future", local("2026-11-22T10:01")).eligible


def test_an_offer_of_several_groups_is_for_members_of_any_of_them(shop):
    shop.customer("holder", "vip", "subscriber", "nobody")
    shop.purchase("holder")
    shop.member("vip", "vip")
    shop.member("loyalty", "subscriber")
    groups = groups_file({"o": {"groups": ["members", "vip", "loyalty"]}})
    now = local("2026-11-22T10:00")

    results = {c: check(shop, groups, c, now) for c in ("holder", "vip", "subscriber", "nobody")}

    assert {c for c, r in results.items() if r.eligible} == {"holder", "vip", "subscriber"}
    assert results["nobody"].message == (
        "customer 'nobody' is not in any of the groups 'members', 'vip', 'loyalty' of offer 'o'"
    )


def test_an_offer_that_names_no_groups_is_open_to_every_customer(shop):
    shop.customer("c1")
    assert check(shop, open_offer(), "c1", local("2026-11-22T10:00")).eligible


# -- unknown names ------------------------------------------------------------------------------


def test_an_unknown_offer_is_bad_usage_with_a_suggestion(shop):
    shop.customer("c1")
    groups = groups_file({"member-free-entry": {}})
    now = local("2026-11-22T10:00")

    with pytest.raises(UsageError) as caught:
        check(shop, groups, "c1", now, offer="member-free-entr")
    assert str(caught.value) == (
        "unknown offer 'member-free-entr' (did you mean \"member-free-entry\"?)"
    )
    assert UsageError.exit_code == 2
    with pytest.raises(UsageError, match="groups.yaml declares no offers"):
        check(shop, groups_file({}), "c1", now, offer="anything")


def test_an_unknown_customer_is_not_found_and_nothing_is_recorded(shop):
    groups = open_offer()
    now = local("2026-11-22T10:00")

    with pytest.raises(NotFoundError, match="no customer with id 'ghost'"):
        check(shop, groups, "ghost", now)
    with pytest.raises(NotFoundError):
        redeem(shop, groups, "ghost", now)
    assert shop.uses() == []
    assert NotFoundError.exit_code == OfferRefused.exit_code == 1


def test_a_redemption_is_recorded_at_now_and_reported_with_its_id(shop):
    shop.customer("c1")
    groups = open_offer(usage_limit={"uses": 3, "per": "week"})
    now = local("2026-11-22T10:00:00.750")

    first = redeem(shop, groups, "c1", now)
    second = redeem(shop, groups, "c1", now)

    assert second.use_id > first.use_id
    assert (second.used, second.remaining, second.period.label) == (2, 1, "2026-W47")
    assert shop.uses() == [("o", "c1", 1, datetime(2026, 11, 22, 17, tzinfo=UTC))] * 2
