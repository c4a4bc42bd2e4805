"""The example organisation's catalogue: items, check-in locations, names and places.

A Denver attractions and brewery pass program with a members' scheme and a small shop.
Every value here is plain text without commas, quotes or newlines, so rows can be joined
with "," and stay valid CSV.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, NamedTuple, TypeVar

T = TypeVar("T")


class Item(NamedTuple):
    """One row of items.csv, plus the list price its purchases carry (in quarter dollars)."""

    id: str
    name: str
    kind: str
    duration_days: int | None
    price_quarters: int


EXPLORER = "explorer-pass"
BREWERY = "brewery-pass"
TSHIRT = "prize-tshirt"
MUG = "prize-mug"
MEMBERSHIP = "annual-membership"
TICKET = "member-ticket"
GUIDE = "field-guide"

ITEMS: Final[tuple[Item, ...]] = (
    Item(EXPLORER, "Explorer Pass", "pass", 365, 59 * 4),
    Item(BREWERY, "Brewery Trail Pass", "pass", 365, 35 * 4),
    Item(TSHIRT, "Explorer T-shirt", "prize", None, 0),
    Item(MUG, "Explorer Mug", "prize", None, 0),
    Item(MEMBERSHIP, "Annual Membership", "membership", 365, 99 * 4),
    Item(TICKET, "Members' Exclusive Ticket", "ticket", None, 0),
    Item(GUIDE, "Denver Field Guide", "product", None, 18 * 4 + 3),
)
ITEM_BY_ID: Final[dict[str, Item]] = {item.id: item for item in ITEMS}

# Check-in points are fixed per location, as on real pass platforms: a check-in at the zoo is
# always worth 20. Persona histories rely on this to hit exact totals (100 is not > 100).
EXPLORER_LOCATIONS: Final[dict[str, int]] = {
    "art-museum": 15,
    "history-colorado": 10,
    "nature-science": 15,
    "zoo": 20,
    "aquarium": 15,
    "botanic-gardens": 10,
    "childrens-museum": 10,
    "wings-over-the-rockies": 10,
    "forney-museum": 5,
    "meow-wolf": 25,
    "red-rocks": 20,
    "clyfford-still": 15,
}
BREWERY_LOCATIONS: Final[dict[str, int]] = {
    "great-divide": 10,
    "ratio-beerworks": 10,
    "cerebral": 15,
    "odell": 20,
    "new-belgium": 20,
    "wynkoop": 5,
    "crooked-stave": 15,
    "station-26": 10,
    "bruz-beers": 10,
    "comrade": 15,
    "river-north": 10,
    "black-shirt": 15,
}
LOCATIONS_BY_PASS: Final[dict[str, dict[str, int]]] = {
    EXPLORER: EXPLORER_LOCATIONS,
    BREWERY: BREWERY_LOCATIONS,
}

FIRST_NAMES: Final[tuple[str, ...]] = tuple(
    (
        "Alex Avery Bailey Blake Cameron Carmen Casey Dakota Devon Drew Elliot Emery Finley "
        "Frankie Harper Hayden Jamie Jesse Jordan Jules Kai Kendall Lane Logan Mackenzie Morgan "
        "Noel Oakley Parker Peyton Quinn Reese Riley Rowan Sage Sam Skyler Spencer Taylor Tatum "
        "Ana José Zoë Renée Björn Siobhan Mateo Lucía Aarav Mei Hana Kofi Amara Omar Leila"
    ).split()
)
LAST_NAMES: Final[tuple[str, ...]] = tuple(
    (
        "Abbott Alvarez Baker Bennett Brooks Carter Chen Cruz Diaz Edwards Ellis Fischer Garcia "
        "Gray Hughes Ito Jensen Kim Kowalski Lopez Martin Meyer Morales Nguyen Novak Ortiz Patel "
        "Price Reyes Rossi Sato Schmidt Silva Singh Sullivan Tanaka Turner Walsh Weber Young "
        "O'Brien Müller Núñez García-López Okafor Haddad Kaur Yamamoto"
    ).split()
)
EMAIL_DOMAINS: Final[tuple[str, ...]] = (
    "example.com",
    "example.com",
    "example.org",
    "mail.example.net",
    "inbox.example",
)
# Colorado first; 555 exchanges throughout, so no real subscriber is ever written down.
US_AREA_CODES: Final[tuple[str, ...]] = tuple(
    "303 720 970 719 212 646 718 917 310 213 415 650 312 773 206 512 602 801".split()
)

CITIES_BY_ZONE: Final[dict[str, tuple[str, ...]]] = {
    "America/Denver": (
        "Denver",
        "Denver",
        "Denver",
        "Aurora",
        "Lakewood",
        "Boulder",
        "Arvada",
        "Littleton",
        "Englewood",
        "Golden",
        "Centennial",
        "Fort Collins",
        "Colorado Springs",
    ),
    "America/New_York": ("New York", "Brooklyn", "Boston", "Philadelphia"),
    "America/Los_Angeles": ("Los Angeles", "San Francisco", "Seattle", "Portland"),
    "Europe/Berlin": ("Berlin", "Munich", "Hamburg"),
    "Australia/Sydney": ("Sydney", "Melbourne"),
    "": ("Denver", "Boulder", "Chicago", "Austin", "Salt Lake City"),
}


def weighted(pairs: Sequence[tuple[T, int]]) -> tuple[T, ...]:
    """A lookup table for fast weighted picks: `table[int(random() * len(table))]`.

    Weights are small integers; one slot per unit of weight beats `random.choices` in a hot
    loop by an order of magnitude.
    """
    return tuple(value for value, weight in pairs for _ in range(weight))


TIMEZONES: Final = weighted(
    [
        ("America/Denver", 60),
        ("America/New_York", 9),
        ("America/Los_Angeles", 9),
        ("Europe/Berlin", 4),
        ("Australia/Sydney", 3),
        ("", 15),
    ]
)
