"""The example-data generator: deterministic, well-formed, and every SPEC §3 segment non-empty.

The segment checks below are a small pure-Python reading of SPEC §3, written here rather than
imported, so that the examples are checked against the contract and not against passcli's own
segment code.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from passcli.sampledata import (
    DEFAULT_CUSTOMERS,
    DEFAULT_SEED,
    FILES,
    REFERENCE_NOW,
    TIMEZONE,
    generate,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ZONE = ZoneInfo(TIMEZONE)
HEADERS = {
    "items.csv": ["id", "name", "kind", "duration_days"],
    "customers.csv": [
        "id",
        "email",
        "phone",
        "first_name",
        "last_name",
        "timezone",
        "created_at",
        "email_opt_in",
        "sms_opt_in",
        "city",
        "birthday_month",
    ],
    "purchases.csv": [
        "id",
        "customer_id",
        "item",
        "channel",
        "purchased_at",
        "expires_at",
        "status",
        "amount",
    ],
    "redemptions.csv": ["id", "customer_id", "pass", "location", "redeemed_at", "points"],
}
SEGMENTS = (
    "pass-participants",
    "new-signups",
    "expires-soon",
    "no-redemptions-yet",
    "super-users",
    "high-ltv",
)


@pytest.fixture(scope="module")
def default_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("default")
    return out, generate(out)


@pytest.fixture(scope="module")
def small_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("small")
    return out, generate(out, customers=50)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def read_events(path: Path) -> list[dict[str, object]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def local_date(moment: datetime) -> date:
    return moment.astimezone(ZONE).date()


# -- a reference reading of SPEC §3 -----------------------------------------------------------


@dataclass
class Purchase:
    customer: str
    item: str
    at: datetime
    expires: datetime | None
    status: str

    def active(self, now: datetime) -> bool:
        return self.status == "active" and (self.expires is None or self.expires > now)


def load_purchases(folder: Path) -> list[Purchase]:
    durations = {
        row["id"]: int(row["duration_days"])
        for row in read_csv(folder / "items.csv")
        if row["duration_days"]
    }
    purchases = []
    for row in read_csv(folder / "purchases.csv"):
        at = instant(row["purchased_at"])
        if row["expires_at"]:
            expires: datetime | None = instant(row["expires_at"])
        elif row["item"] in durations:
            expires = at + timedelta(days=durations[row["item"]])
        else:
            expires = None
        purchases.append(Purchase(row["customer_id"], row["item"], at, expires, row["status"]))
    return purchases


def segment_members(folder: Path, now: datetime = REFERENCE_NOW) -> dict[str, set[str]]:
    """Members of the SPEC §3 example segments, computed straight from the files."""
    today = local_date(now)
    purchases = load_purchases(folder)
    explorer = [p for p in purchases if p.item == "explorer-pass"]
    points: Counter[str] = Counter()
    redeemed: set[str] = set()
    for row in read_csv(folder / "redemptions.csv"):
        if row["pass"] == "explorer-pass" and instant(row["redeemed_at"]) <= now:
            points[row["customer_id"]] += int(row["points"])
            redeemed.add(row["customer_id"])
    orders_90: Counter[str] = Counter()
    revenue: defaultdict[str, float] = defaultdict(float)
    window_start = now - timedelta(days=90)
    for event in read_events(folder / "events.jsonl"):
        if event["type"] != "track" or event["event"] != "Order Completed":
            continue
        at = instant(str(event["timestamp"]))
        if at > now:
            continue
        user = str(event["userId"])
        properties = event["properties"]
        assert isinstance(properties, dict)
        revenue[user] += float(properties["revenue"])
        if at > window_start:
            orders_90[user] += 1
    tshirt = {p.customer for p in purchases if p.item == "prize-tshirt" and p.at <= now}
    holders = {p.customer for p in explorer if p.at <= now}
    active = [p for p in explorer if p.at <= now and p.active(now)]
    return {
        "pass-participants": holders,
        "new-signups": {p.customer for p in active if (today - local_date(p.at)).days == 2},
        "expires-soon": {
            p.customer
            for p in active
            if p.expires is not None and (local_date(p.expires) - today).days < 30
        },
        "no-redemptions-yet": {p.customer for p in active} - redeemed,
        "super-users": {c for c in holders if points[c] > 100} & tshirt,
        "high-ltv": {c for c, n in orders_90.items() if n > 2 and revenue[c] > 300},
    }


def customer_ids_by_name(folder: Path) -> dict[str, str]:
    by_name: dict[str, list[str]] = defaultdict(list)
    for row in read_csv(folder / "customers.csv"):
        by_name[f"{row['first_name']} {row['last_name']}"].append(row["id"])
    return {name: ids[0] for name, ids in by_name.items() if len(ids) == 1}


# The personas planted at every size, and which side of each boundary they must land on.
PERSONA_SEGMENTS: dict[str, tuple[set[str], set[str]]] = {
    "Maya Thompson": ({"pass-participants", "super-users"}, {"no-redemptions-yet"}),
    "Felix Wagner": ({"expires-soon", "super-users", "high-ltv"}, {"new-signups"}),
    "Priya Natarajan": ({"pass-participants"}, {"super-users"}),
    "Noah Fairbanks": ({"pass-participants"}, {"super-users"}),
    "Sofia Ramírez": ({"expires-soon"}, {"no-redemptions-yet"}),
    "Ethan Whitfield": ({"expires-soon"}, set()),
    "Olivia Brookfield": ({"pass-participants"}, {"expires-soon", "no-redemptions-yet"}),
    "Lucas Vance": ({"expires-soon"}, set()),
    "Nora Lindqvist": (set(), {"expires-soon"}),
    "Isla Murray": ({"expires-soon", "super-users", "high-ltv"}, set()),
    "Jackson Reid": ({"no-redemptions-yet"}, set()),
    "Ruby Castillo": ({"pass-participants"}, {"no-redemptions-yet", "expires-soon"}),
    "Mason Clarke": ({"pass-participants"}, {"new-signups", "no-redemptions-yet"}),
    "Harriet Vance": ({"high-ltv"}, {"pass-participants"}),
    "Marcus Bell": ({"high-ltv"}, set()),
    "Wendy Stroud": (set(), {"high-ltv"}),
    "Desmond Hale": (set(), {"high-ltv"}),
    "Oliver Pembroke": ({"no-redemptions-yet"}, set()),
    "Lydia Crane": ({"no-redemptions-yet"}, set()),
    "Lena Hartmann": ({"new-signups", "no-redemptions-yet"}, set()),
    "Lachlan Byrne": ({"new-signups", "no-redemptions-yet"}, set()),
    "Ingrid Salo": ({"new-signups"}, set()),
    "Samir Qureshi": ({"new-signups"}, set()),
    "Victor Lam": (set(), {"new-signups"}),
    "Elsie Park": (set(), {"new-signups"}),
}


# -- the tests ------------------------------------------------------------------------------


def test_public_constants_describe_the_reference_instant() -> None:
    assert REFERENCE_NOW.astimezone(UTC) == datetime(2026, 11, 22, 17, 0, tzinfo=UTC)
    assert REFERENCE_NOW.utcoffset() == timedelta(hours=-7)
    assert TIMEZONE == "America/Denver"
    assert DEFAULT_CUSTOMERS == 300
    assert isinstance(DEFAULT_SEED, int)
    assert FILES == (
        "items.csv",
        "customers.csv",
        "purchases.csv",
        "redemptions.csv",
        "events.jsonl",
    )


def test_same_arguments_give_the_same_bytes(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", customers=120, seed=7)
    second = generate(tmp_path / "b", customers=120, seed=7)
    assert first == second
    for name in FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_spilling_sorted_runs_to_disk_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Big sizes sort through run files; tiny runs exercise that path at a small size."""
    from passcli.sampledata import sorting

    generate(tmp_path / "memory", customers=120)
    monkeypatch.setattr(sorting, "RUN_LINES", 40)
    generate(tmp_path / "runs", customers=120)
    for name in FILES:
        assert (tmp_path / "memory" / name).read_bytes() == (tmp_path / "runs" / name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(FILES)


def test_another_seed_gives_other_random_customers(tmp_path: Path) -> None:
    generate(tmp_path / "a", customers=120, seed=1)
    generate(tmp_path / "b", customers=120, seed=2)
    assert (tmp_path / "a" / "purchases.csv").read_bytes() != (
        tmp_path / "b" / "purchases.csv"
    ).read_bytes()


def test_committed_examples_equal_a_fresh_default_generation(
    default_set: tuple[Path, dict[str, int]],
) -> None:
    folder, _ = default_set
    for name in FILES:
        committed = EXAMPLES / name
        assert committed.read_bytes() == (folder / name).read_bytes(), (
            f"examples/{name} is stale: run `python examples/generate.py`"
        )


def test_returned_counts_are_the_rows_written(default_set: tuple[Path, dict[str, int]]) -> None:
    folder, counts = default_set
    assert set(counts) == set(FILES)
    for name in FILES:
        lines = (folder / name).read_text(encoding="utf-8").splitlines()
        header = 0 if name.endswith(".jsonl") else 1
        assert counts[name] == len(lines) - header
    assert counts["customers.csv"] == DEFAULT_CUSTOMERS


def test_row_counts_scale_with_customers(tmp_path: Path) -> None:
    small = generate(tmp_path / "small", customers=200)
    large = generate(tmp_path / "large", customers=2000)
    assert small["customers.csv"] == 200
    assert large["customers.csv"] == 2000
    assert large["items.csv"] == small["items.csv"]
    for name, per_customer in (("purchases.csv", 1.5), ("redemptions.csv", 5), ("events.jsonl", 5)):
        assert 0.6 * per_customer * 2000 < large[name] < 1.5 * per_customer * 2000, name
        assert large[name] > 5 * small[name], name


def test_negative_customer_count_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="customers"):
        generate(tmp_path, customers=-1)


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_every_csv_has_exactly_the_spec_header(
    default_set: tuple[Path, dict[str, int]], name: str
) -> None:
    folder, _ = default_set
    with (folder / name).open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == HEADERS[name]
    assert all(len(row) == len(HEADERS[name]) for row in rows[1:])


def test_ids_are_unique_and_sort_in_creation_order(
    default_set: tuple[Path, dict[str, int]],
) -> None:
    folder, _ = default_set
    for name, stamp, width in (
        ("customers.csv", "created_at", 8),
        ("purchases.csv", "purchased_at", 9),
        ("redemptions.csv", "redeemed_at", 9),
    ):
        rows = read_csv(folder / name)
        ids = [row["id"] for row in rows]
        assert ids == sorted(set(ids)), name
        assert all(len(i) == width for i in ids), name
        stamps = [row[stamp] for row in rows]
        assert stamps == sorted(stamps), name
    events = read_events(folder / "events.jsonl")
    message_ids = [str(event["messageId"]) for event in events]
    assert message_ids == sorted(set(message_ids))
    assert all(len(m) == 10 for m in message_ids)


def test_purchases_and_redemptions_reference_existing_customers(
    small_set: tuple[Path, dict[str, int]],
) -> None:
    folder, _ = small_set
    customers = {row["id"] for row in read_csv(folder / "customers.csv")}
    items = {row["id"] for row in read_csv(folder / "items.csv")}
    for row in read_csv(folder / "purchases.csv"):
        assert row["customer_id"] in customers
        assert row["item"] in items
    for row in read_csv(folder / "redemptions.csv"):
        assert row["customer_id"] in customers
        assert row["pass"] in items


def test_redemptions_fall_inside_a_pass_the_customer_holds(
    default_set: tuple[Path, dict[str, int]],
) -> None:
    folder, _ = default_set
    held = defaultdict(list)
    for p in load_purchases(folder):
        if p.status == "active":
            held[p.customer, p.item].append(p)
    for row in read_csv(folder / "redemptions.csv"):
        at = instant(row["redeemed_at"])
        passes = held[row["customer_id"], row["pass"]]
        assert any(p.at <= at and (p.expires is None or at <= p.expires) for p in passes), row
        assert 5 <= int(row["points"]) <= 25


def test_no_record_is_timestamped_after_the_reference_instant(
    default_set: tuple[Path, dict[str, int]],
) -> None:
    folder, _ = default_set
    stamps = [instant(r["created_at"]) for r in read_csv(folder / "customers.csv")]
    stamps += [instant(r["purchased_at"]) for r in read_csv(folder / "purchases.csv")]
    stamps += [instant(r["redeemed_at"]) for r in read_csv(folder / "redemptions.csv")]
    stamps += [instant(str(e["timestamp"])) for e in read_events(folder / "events.jsonl")]
    assert max(stamps) <= REFERENCE_NOW
    later = [r for r in read_csv(folder / "purchases.csv") if r["expires_at"] > "2026-11-22T17"]
    assert later, "some explicit expiries lie ahead, as they may"


def test_timestamps_are_utc_with_z(default_set: tuple[Path, dict[str, int]]) -> None:
    folder, _ = default_set
    for name, columns in (
        ("customers.csv", ("created_at",)),
        ("purchases.csv", ("purchased_at", "expires_at")),
        ("redemptions.csv", ("redeemed_at",)),
    ):
        for row in read_csv(folder / name):
            for column in columns:
                if row[column]:
                    assert row[column].endswith("Z") and len(row[column]) == 20, row


def test_events_are_valid_segment_json_lines_in_time_order(
    default_set: tuple[Path, dict[str, int]],
) -> None:
    folder, _ = default_set
    lines = (folder / "events.jsonl").read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    assert all(isinstance(event, dict) for event in events)
    stamps = [event["timestamp"] for event in events]
    assert stamps == sorted(stamps)
    kinds = Counter(event.get("event", event["type"]) for event in events)
    for kind in (
        "Order Completed",
        "Order Refunded",
        "Product Viewed",
        "Pass Viewed",
        "Session Started",
        "Signed Up",
        "identify",
    ):
        assert kinds[kind] > 0, kind
    for event in events:
        if event["type"] == "track":
            assert set(event) == {"type", "userId", "event", "properties", "timestamp", "messageId"}
        else:
            assert set(event) == {"type", "userId", "traits", "timestamp", "messageId"}
            assert set(event["traits"]) <= {
                "email",
                "firstName",
                "lastName",
                "phone",
                "timezone",
                "city",
            }


def test_money_values_are_whole_quarters(default_set: tuple[Path, dict[str, int]]) -> None:
    folder, _ = default_set
    amounts = [float(r["amount"]) for r in read_csv(folder / "purchases.csv")]
    for event in read_events(folder / "events.jsonl"):
        properties = event.get("properties")
        if isinstance(properties, dict):
            amounts += [
                float(properties[k]) for k in ("revenue", "price", "total") if k in properties
            ]
    assert all((a * 4).is_integer() for a in amounts)


def test_order_ids_are_assigned_in_time_order_and_refunds_name_their_order(
    default_set: tuple[Path, dict[str, int]],
) -> None:
    folder, _ = default_set
    orders: dict[str, str] = {}
    refunds = []
    for event in read_events(folder / "events.jsonl"):
        properties = event.get("properties")
        assert not isinstance(properties, dict) or "@@" not in json.dumps(properties)
        if event.get("event") == "Order Completed":
            assert isinstance(properties, dict)
            orders[properties["order_id"]] = str(event["userId"])
        elif event.get("event") == "Order Refunded":
            assert isinstance(properties, dict)
            refunds.append((properties["order_id"], event["userId"]))
    assert list(orders) == [f"o{n:08d}" for n in range(1, len(orders) + 1)]
    assert len(refunds) >= 2
    assert all(orders[order] == user for order, user in refunds)


@pytest.mark.parametrize("fixture", ["default_set", "small_set"])
def test_every_segment_is_non_empty(request: pytest.FixtureRequest, fixture: str) -> None:
    folder, _ = request.getfixturevalue(fixture)
    members = segment_members(folder)
    assert set(members) == set(SEGMENTS)
    for segment in SEGMENTS:
        assert members[segment], segment


def test_every_segment_is_non_empty_for_other_seeds(tmp_path: Path) -> None:
    for seed in (1, 2, 3):
        generate(tmp_path / str(seed), customers=60, seed=seed)
        members = segment_members(tmp_path / str(seed))
        assert all(members[segment] for segment in SEGMENTS), seed


@pytest.mark.parametrize("fixture", ["default_set", "small_set"])
def test_personas_land_on_the_intended_side_of_each_boundary(
    request: pytest.FixtureRequest, fixture: str
) -> None:
    folder, _ = request.getfixturevalue(fixture)
    members = segment_members(folder)
    ids = customer_ids_by_name(folder)
    for name, (inside, outside) in PERSONA_SEGMENTS.items():
        customer = ids[name]
        for segment in inside:
            assert customer in members[segment], (name, segment)
        for segment in outside:
            assert customer not in members[segment], (name, segment)


def test_the_other_planted_histories_are_present(default_set: tuple[Path, dict[str, int]]) -> None:
    folder, _ = default_set
    now = REFERENCE_NOW
    customers = {row["id"]: row for row in read_csv(folder / "customers.csv")}
    purchases = load_purchases(folder)
    members = segment_members(folder)
    events = read_events(folder / "events.jsonl")

    assert any(p.item == "annual-membership" and p.active(now) for p in purchases)
    recent = now - timedelta(days=3)
    assert any(
        e.get("event") == "Session Started" and instant(str(e["timestamp"])) > recent
        for e in events
    )
    sms_ready = [
        c
        for c in members["high-ltv"]
        if customers[c]["phone"] and customers[c]["sms_opt_in"] == "true"
    ]
    assert len(sms_ready) >= 2
    for zone in ("Europe/Berlin", "Australia/Sydney"):
        local = {c for c, row in customers.items() if row["timezone"] == zone}
        for segment in SEGMENTS:
            assert local & members[segment], (zone, segment)
    assert any(not r["email"] and r["phone"] for r in customers.values())
    assert any(not r["email"] and not r["phone"] for r in customers.values())
    assert any(r["email"] != r["email"].lower() for r in customers.values())
    assert any(r["phone"].startswith("(") for r in customers.values())
    assert any(r["phone"].startswith("+44") for r in customers.values())
    midnight = [p for p in purchases if p.at.astimezone(ZONE).time().isoformat() == "00:00:00"]
    assert midnight
    assert any(
        p.item == "explorer-pass"
        and p.active(now)
        and p.expires is not None
        and local_date(p.expires) == local_date(now)
        for p in purchases
    )
    newcomers = {str(e["userId"]) for e in events if e["type"] == "identify"} - set(customers)
    assert 1 <= len(newcomers) <= 2
