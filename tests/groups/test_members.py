"""Members of groups (SPEC §8): adding and removing by email, phone or id, addresses kept
until a customer has them (matched by customers and events imports), files of addresses,
and the `group:` segment condition for manual, subscription and membership groups."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select

from passcli.errors import NotFoundError, UsageError
from passcli.groups.addresses import read_addresses
from passcli.groups.members import (
    add_members,
    count_members,
    group_summaries,
    list_members,
    list_pending,
    match_pending_members,
    remove_members,
)
from passcli.groups.spec import GroupsFile, parse_groups
from passcli.importing.load import import_file
from passcli.segments.compile import SegmentCompiler
from passcli.segments.spec import Problem, parse_segments, resolve_groups
from passcli.store import read_transaction, write_transaction
from passcli.store.schema import customers, group_members, items, purchases

NOW = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=1)


def groups_file() -> GroupsFile:
    problems: list[Problem] = []
    parsed = parse_groups(
        {
            "groups": {
                "members": {"kind": "membership", "items": ["annual-membership"]},
                "vip": {"kind": "manual"},
                "loyalty": {"kind": "subscription", "join_keywords": ["LOYALTY"]},
            }
        },
        problems,
    )
    assert problems == []
    return parsed


GROUPS = groups_file()

CUSTOMERS = """\
id,email,phone,first_name,last_name,timezone,created_at,email_opt_in,sms_opt_in
c1,Ada@Example.com,(303) 555-0100,Ada,Lovelace,,,,
c2,grace@example.com,303-555-0101,Grace,Hopper,,,,
c3,shared@example.com,,Shared,One,,,,
c4,shared@example.com,,Shared,Two,,,,
"""


def import_text(engine: Engine, tmp_path: Path, name: str, text: str, now: datetime = NOW):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    report = import_file(engine, name.split(".")[0], path, tz=UTC, region="US", now=now)
    assert report.rejected == 0, report.rejections
    return report


@pytest.fixture
def store(engine: Engine, tmp_path: Path) -> Engine:
    """A store holding the four customers of CUSTOMERS (c3 and c4 share an email)."""
    import_text(engine, tmp_path, "customers.csv", CUSTOMERS)
    return engine


def add(engine: Engine, name: str, *addresses: str, now: datetime = NOW):
    with write_transaction(engine) as conn:
        return add_members(conn, GROUPS, name, addresses, region="US", now=now).to_json()


def remove(engine: Engine, name: str, *who: str):
    with write_transaction(engine) as conn:
        return remove_members(conn, GROUPS, name, who, region="US").to_json()


def rows(engine: Engine) -> list[tuple[Any, ...]]:
    """Every group_members row: (group, customer, address, source, added_at)."""
    g = group_members.c
    with read_transaction(engine) as conn:
        found = conn.execute(
            select(g.group_name, g.customer_id, g.address, g.source, g.added_at).order_by(
                g.group_name, g.customer_id, g.address
            )
        )
        return [tuple(r) for r in found]


def members(engine: Engine, name: str, now: datetime = NOW) -> list[str]:
    with read_transaction(engine) as conn:
        listed = [m["id"] for m in list_members(conn, GROUPS, name, now, UTC, None)]
        assert count_members(conn, GROUPS, name, now, UTC) == len(listed)
        return listed


# -- add ----------------------------------------------------------------------------------


def test_add_by_email_ignores_case(store):
    assert add(store, "vip", "ADA@example.COM") == {
        "group": "vip",
        "added": [{"address": "ada@example.com", "customer_id": "c1"}],
        "pending": [],
        "already": [],
    }
    assert rows(store) == [("vip", "c1", "ada@example.com", "manual", NOW)]
    assert members(store, "vip") == ["c1"]


@pytest.mark.parametrize(
    "written", ["(303) 555-0101", "303.555.0101", "+1 303 555 0101", "3035550101", "+13035550101"]
)
def test_add_by_phone_in_any_format(store, written):
    report = add(store, "vip", written)
    assert report["added"] == [{"address": "+13035550101", "customer_id": "c2"}]
    assert members(store, "vip") == ["c2"]


def test_adding_twice_reports_already_and_writes_nothing_more(store):
    add(store, "vip", "ada@example.com", "nobody@example.com")
    before = rows(store)
    again = add(store, "vip", "Ada@Example.com", "303 555 0100", "NOBODY@example.com", now=LATER)
    assert again == {
        "group": "vip",
        "added": [],
        "pending": [],
        "already": ["ada@example.com", "+13035550100", "nobody@example.com"],
    }
    assert rows(store) == before


def test_the_same_address_twice_in_one_call_is_added_once(store):
    report = add(store, "vip", "ada@example.com", "ADA@EXAMPLE.COM")
    assert report["added"] == [{"address": "ada@example.com", "customer_id": "c1"}]
    assert report["already"] == []


def test_an_email_several_customers_share_adds_each_of_them(store):
    report = add(store, "vip", "Shared@example.com")
    assert report["added"] == [
        {"address": "shared@example.com", "customer_id": "c3"},
        {"address": "shared@example.com", "customer_id": "c4"},
    ]
    assert members(store, "vip") == ["c3", "c4"]


def test_a_subscription_group_can_be_added_to_by_hand(store):
    add(store, "loyalty", "ada@example.com")
    assert members(store, "loyalty") == ["c1"]


@pytest.mark.parametrize("bad", ["not-an-email@", "nope", "12", "a b@example.com", " "])
def test_a_bad_address_adds_nobody_not_even_the_good_ones(store, bad):
    with pytest.raises(UsageError) as caught:
        add(store, "vip", "ada@example.com", "new@example.com", bad)
    assert "give an email address or a phone number" in str(caught.value)
    assert rows(store) == []


def test_a_membership_group_cannot_be_added_to(store):
    with pytest.raises(UsageError, match="'members' is a membership group") as caught:
        add(store, "members", "ada@example.com")
    assert "annual-membership" in str(caught.value)
    assert rows(store) == []


def test_an_unknown_group_is_bad_usage(store):
    with pytest.raises(UsageError, match="unknown group 'vipp'"):
        add(store, "vipp", "ada@example.com")


# -- pending addresses, matched on import --------------------------------------------------


def test_an_email_no_customer_has_is_kept_and_matched_by_a_customers_import(store, tmp_path):
    report = add(store, "vip", "New@Example.com", "ada@example.com")
    assert report["pending"] == ["new@example.com"]
    assert members(store, "vip") == ["c1"]
    with read_transaction(store) as conn:
        assert list_pending(conn, "vip") == [
            {"address": "new@example.com", "source": "manual", "added_at": NOW}
        ]

    import_text(
        store,
        tmp_path,
        "customers.csv",
        "id,email,phone,first_name,last_name\nc9,NEW@example.com,,New,Person\n",
        now=LATER,
    )

    assert members(store, "vip") == ["c1", "c9"]
    with read_transaction(store) as conn:
        assert list_pending(conn, "vip") == []
    # The membership dates from the `group add`, not from the import.
    assert ("vip", "c9", "new@example.com", "manual", NOW) in rows(store)


def test_a_pending_email_is_matched_by_an_identify_event(store, tmp_path):
    add(store, "vip", "newcomer@example.com")
    events = [
        {"type": "identify", "userId": "u7", "traits": {"email": "Newcomer@example.com"}},
        {
            "type": "track",
            "userId": "c1",
            "event": "Viewed",
            "messageId": "m1",
            "timestamp": "2026-11-22T10:00:00Z",
        },
    ]
    import_text(store, tmp_path, "events.jsonl", "".join(json.dumps(e) + "\n" for e in events))
    assert members(store, "vip") == ["u7"]


def test_a_pending_phone_is_matched_by_a_customer_with_that_number(store, tmp_path):
    add(store, "vip", "720 555 0199")
    import_text(
        store, tmp_path, "customers.csv", "id,email,phone\nc8,,+1 (720) 555-0199\n", now=LATER
    )
    assert members(store, "vip") == ["c8"]


def test_a_pending_email_two_imported_customers_share_makes_both_members(store, tmp_path):
    add(store, "vip", "twins@example.com")
    import_text(
        store,
        tmp_path,
        "customers.csv",
        "id,email\nt1,twins@example.com\nt2,Twins@Example.com\n",
    )
    assert members(store, "vip") == ["t1", "t2"]
    assert [r for r in rows(store) if r[1] is None] == []


def test_an_address_pending_in_two_groups_is_matched_in_both(store, tmp_path):
    add(store, "vip", "both@example.com")
    add(store, "loyalty", "both@example.com")
    import_text(store, tmp_path, "customers.csv", "id,email\nb1,both@example.com\n")
    assert (members(store, "vip"), members(store, "loyalty")) == (["b1"], ["b1"])


def test_an_import_that_matches_nothing_leaves_pending_addresses_alone(store, tmp_path):
    add(store, "vip", "later@example.com")
    import_text(store, tmp_path, "customers.csv", "id,email\nz1,other@example.com\n")
    with read_transaction(store) as conn:
        assert [p["address"] for p in list_pending(conn, "vip")] == ["later@example.com"]
        assert match_pending_members(conn) == 0


def test_a_pending_member_who_is_already_a_member_is_not_doubled(store):
    add(store, "vip", "ada@example.com")
    # A pending row for ada's address from before she was a customer (as after an import
    # that ran without the matching step): matching keeps her one membership.
    with write_transaction(store) as conn:
        conn.execute(
            insert(group_members).values(
                group_name="vip",
                customer_id=None,
                address="ada@example.com",
                source="file",
                added_at=NOW,
            )
        )
        assert match_pending_members(conn) == 1
    assert rows(store) == [("vip", "c1", "ada@example.com", "manual", NOW)]


# -- remove --------------------------------------------------------------------------------


def test_remove_by_id_email_or_phone(store):
    add(store, "vip", "ada@example.com", "grace@example.com", "shared@example.com")
    report = remove(store, "vip", "c1", "GRACE@example.com", "(303) 555-0100")
    assert report == {
        "group": "vip",
        "removed": ["c1", "grace@example.com"],
        "not_members": ["+13035550100"],  # c1's phone: she was removed just before
    }
    assert members(store, "vip") == ["c3", "c4"]
    assert remove(store, "vip", "shared@example.com")["removed"] == ["shared@example.com"]
    assert members(store, "vip") == []


def test_remove_by_phone_in_another_format(store):
    add(store, "vip", "+13035550101")
    assert remove(store, "vip", "303.555.0101")["removed"] == ["+13035550101"]
    assert members(store, "vip") == []


def test_remove_drops_a_pending_address(store):
    add(store, "vip", "later@example.com")
    assert remove(store, "vip", "Later@example.com")["removed"] == ["later@example.com"]
    assert rows(store) == []


def test_removing_a_non_member_reports_it(store):
    assert remove(store, "vip", "c2", "nobody@example.com") == {
        "group": "vip",
        "removed": [],
        "not_members": ["c2", "nobody@example.com"],
    }


def test_removing_from_a_membership_group_is_refused_with_the_reason(store):
    with pytest.raises(UsageError) as caught:
        remove(store, "members", "c1")
    assert str(caught.value) == (
        "members of 'members' cannot be removed by hand: it is a membership group, and "
        "holding an active purchase of annual-membership is what makes them members"
    )


def test_removing_an_unknown_customer_id_is_not_found(store):
    add(store, "vip", "ada@example.com")
    with pytest.raises(NotFoundError, match="no customer with id 'c99'"):
        remove(store, "vip", "c1", "c99")
    assert members(store, "vip") == ["c1"]  # nothing removed


def test_removing_a_bad_email_is_bad_usage(store):
    with pytest.raises(UsageError, match="invalid email address 'bad@'"):
        remove(store, "vip", "bad@")


# -- listing -------------------------------------------------------------------------------


def test_members_are_listed_in_id_order_with_how_they_joined(store, tmp_path):
    add(store, "vip", "grace@example.com")
    add(store, "vip", "ada@example.com", "future@example.com", now=LATER)
    with read_transaction(store) as conn:
        listed = list(list_members(conn, GROUPS, "vip", LATER, UTC, None))
        limited = list(list_members(conn, GROUPS, "vip", LATER, UTC, 1))
    assert listed == [
        {
            "id": "c1",
            "email": "ada@example.com",
            "phone": "+13035550100",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "added_at": LATER,
            "source": "manual",
        },
        {
            "id": "c2",
            "email": "grace@example.com",
            "phone": "+13035550101",
            "first_name": "Grace",
            "last_name": "Hopper",
            "added_at": NOW,
            "source": "manual",
        },
    ]
    assert limited == listed[:1]


def test_summaries_count_members_and_pending_of_every_group(store):
    buy(store, "c2", "annual-membership")
    add(store, "vip", "ada@example.com", "x@example.com", "y@example.com")
    with read_transaction(store) as conn:
        summaries = group_summaries(conn, GROUPS, NOW, UTC)
    assert [(s.name, s.kind, s.members, s.pending, s.detail) for s in summaries] == [
        ("members", "membership", 1, 0, "holders of annual-membership"),
        ("vip", "manual", 1, 2, "added by hand"),
        ("loyalty", "subscription", 0, 0, "sms; join: LOYALTY"),
    ]


# -- files of addresses --------------------------------------------------------------------


def test_a_plain_list_file_skips_blanks_comments_and_a_header(tmp_path):
    path = tmp_path / "vip.txt"
    path.write_text(
        "email\n# friends of the program\nAda@Example.com\n\n  (303) 555-0101  \n",
        encoding="utf-8",
    )
    assert read_addresses(path, "US") == ["ada@example.com", "+13035550101"]


def test_a_csv_with_an_email_column_gives_each_row_email_else_its_phone(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(
        'id,first_name,email,phone\nc1,Ada,ADA@example.com,\nc2,"Hopper, Grace",,303-555-0101\n'
        "c3,Nobody,,\n",
        encoding="utf-8-sig",
    )
    assert read_addresses(path, "US") == ["ada@example.com", "+13035550101"]


def test_a_csv_without_a_header_gives_its_first_column(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("ada@example.com,Ada\ngrace@example.com,Grace\n", encoding="utf-8")
    assert read_addresses(path, "US") == ["ada@example.com", "grace@example.com"]


def test_a_bad_line_is_reported_with_its_file_and_line(tmp_path):
    path = tmp_path / "vip.csv"
    path.write_text("email,name\nada@example.com,Ada\n\nnot-an-address,X\n", encoding="utf-8")
    with pytest.raises(UsageError) as caught:
        read_addresses(path, "US")
    assert str(caught.value) == (
        f"{path}:4: cannot parse phone number 'not-an-address'"
        " (give an email address or a phone number)"
    )


def test_a_missing_file_is_bad_usage(tmp_path):
    with pytest.raises(UsageError, match="cannot read"):
        read_addresses(tmp_path / "missing.txt", "US")


# -- the `group:` segment condition --------------------------------------------------------


def buy(
    engine: Engine,
    customer_id: str,
    item: str,
    expires_at: datetime | None = None,
    status: str = "active",
    purchased_at: datetime = NOW - timedelta(days=30),
) -> None:
    with write_transaction(engine) as conn:
        if conn.execute(select(items.c.id).where(items.c.id == item)).first() is None:
            conn.execute(insert(items).values(id=item, name=item, kind="membership"))
        count = conn.execute(select(purchases.c.id)).all()
        conn.execute(
            insert(purchases).values(
                id=f"p{len(count) + 1}",
                customer_id=customer_id,
                item=item,
                purchased_at=purchased_at,
                expires_at=expires_at,
                status=status,
            )
        )


def segment_members(engine: Engine, conditions: list[Any], now: datetime = NOW) -> list[str]:
    """Members of a segment with these conditions, by the listing query and by the
    membership test (the two must agree)."""
    problems: list[Problem] = []
    specs = parse_segments({"segments": {"s": {"conditions": conditions}}}, problems)
    assert problems == []
    specs = resolve_groups(specs, {"members": ("annual-membership",)})
    compiler = SegmentCompiler(specs, now, UTC)
    with read_transaction(engine) as conn:
        listed = list(conn.execute(compiler.query("s")).scalars())
        probe = customers.alias("probe")
        tested = conn.execute(
            select(probe.c.id).where(compiler.contains("s", probe.c.id)).order_by(probe.c.id)
        ).scalars()
        tested_ids = list(tested)
    assert sorted(listed) == tested_ids
    return tested_ids


@pytest.fixture
def grouped(store: Engine) -> Engine:
    """c1 in vip; c2 holds an active membership, c3 an expired one, c4 a cancelled one;
    a pending address in vip (not a member of anything)."""
    add(store, "vip", "ada@example.com", "later@example.com")
    buy(store, "c2", "annual-membership")
    buy(store, "c3", "annual-membership", expires_at=NOW - timedelta(days=1))
    buy(store, "c4", "annual-membership", status="cancelled")
    return store


def test_group_condition_on_a_manual_group(grouped):
    assert segment_members(grouped, [{"group": "vip"}]) == ["c1"]


def test_group_condition_on_a_membership_group_is_the_active_holders(grouped):
    assert segment_members(grouped, [{"group": "members"}]) == ["c2"]
    # c1 holds one until LATER: a member now, no longer at LATER.
    buy(grouped, "c1", "annual-membership", expires_at=LATER)
    assert segment_members(grouped, [{"group": "members"}]) == ["c1", "c2"]
    assert segment_members(grouped, [{"group": "members"}], now=LATER) == ["c2"]


def test_a_membership_bought_after_now_does_not_count_yet(grouped):
    buy(grouped, "c1", "annual-membership", purchased_at=LATER)
    assert segment_members(grouped, [{"group": "members"}]) == ["c2"]
    assert segment_members(grouped, [{"group": "members"}], now=LATER) == ["c1", "c2"]


def test_group_condition_inside_not_and_any(grouped):
    assert segment_members(grouped, [{"not": {"group": "vip"}}]) == ["c2", "c3", "c4"]
    assert segment_members(grouped, [{"not": {"group": "members"}}]) == ["c1", "c3", "c4"]
    assert segment_members(grouped, [{"any": [{"group": "vip"}, {"group": "members"}]}]) == [
        "c1",
        "c2",
    ]
    assert segment_members(
        grouped, [{"attribute": {"name": "email", "op": "exists"}}, {"not": {"group": "vip"}}]
    ) == ["c2", "c3", "c4"]
    assert segment_members(grouped, [{"all": [{"group": "vip"}, {"group": "members"}]}]) == []


def test_an_empty_group_has_no_members_and_not_of_it_everyone(grouped):
    assert segment_members(grouped, [{"group": "loyalty"}]) == []
    assert segment_members(grouped, [{"not": {"group": "loyalty"}}]) == ["c1", "c2", "c3", "c4"]
