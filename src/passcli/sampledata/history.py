"""Random customers with coherent histories: the bulk of the data at every size.

Each customer gets a profile and an engagement level in [0, 1) that scales everything they do,
so a few customers buy, check in and shop a lot and most do little, as in real programs.
Check-ins fall inside the pass they use, prizes follow the points that earn them, order events
mirror online purchases. All draws come from the one `random.Random` passed in, in a fixed
order, so the same seed and size give the same bytes. Hot paths avoid method look-ups and
`random.choices`; this loop is most of the generation time.
"""

from __future__ import annotations

import math
import random
import unicodedata

from passcli.sampledata import catalog as cat
from passcli.sampledata.clock import DAY, HOUR, MINUTE, NOW_TS
from passcli.sampledata.records import Sink, number

YEAR = 365 * DAY
CHECKINS_PER_YEAR = 11.0
"""Mean check-ins over a pass's whole year for an average customer (engagement 0.5)."""

_SIGNUP = cat.weighted([("web", 10), ("app", 7), ("in_person", 3)])
_CHANNEL_OF = {"web": "online", "app": "app", "in_person": "in_person"}
_FIRST_ITEM = cat.weighted(
    [(cat.EXPLORER, 46), (cat.BREWERY, 24), (cat.MEMBERSHIP, 15), (cat.GUIDE, 15)]
)
_LATER_ITEM = cat.weighted(
    [(cat.EXPLORER, 36), (cat.BREWERY, 28), (cat.MEMBERSHIP, 10), (cat.GUIDE, 26)]
)
_CHANNEL = cat.weighted([("online", 10), ("app", 6), ("in_person", 4)])
_STATUS = cat.weighted([("active", 90), ("cancelled", 6), ("refunded", 4)])
_PLATFORM = ("ios", "android", "web")
_MOVES = ("America/Denver", "America/New_York", "America/Los_Angeles", "Europe/Berlin")
_DURATION = {item.id: (item.duration_days or 0) * DAY for item in cat.ITEMS}
_PRICE = {item.id: item.price_quarters for item in cat.ITEMS}
_PROMO = {cat.EXPLORER: 49 * 4, cat.MEMBERSHIP: 89 * 4}
_PASS_LOCATIONS = {
    pass_id: (tuple(places), tuple(places.values()))
    for pass_id, places in cat.LOCATIONS_BY_PASS.items()
}
_OPEN, _CLOSE = 9 * HOUR, 21 * HOUR
_MST = 7 * HOUR  # open hours are approximate: MST all year is good enough for realism


def _slug(name: str) -> str:
    """ASCII e-mail local part for a name: "Núñez" -> "nunez", "O'Brien" -> "obrien"."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum() or ch == "-")


_FIRST = tuple((name, _slug(name)) for name in cat.FIRST_NAMES)
_LAST = tuple((name, _slug(name)) for name in cat.LAST_NAMES)


def _phone(n: int, u: float) -> str:
    """A phone number for customer number n, in one of the ways people write them.

    US numbers use 555 exchanges and lines 0200-9999 (0100-0199 are the personas'), unique
    per customer up to ~176,000 customers; UK ones the Ofcom drama range 07700 900xxx.
    """
    if u >= 0.77:
        return ""
    area = cat.US_AREA_CODES[(n // 9800) % len(cat.US_AREA_CODES)]
    line = 200 + (n * 7919) % 9800
    if u < 0.62:
        return f"+1{area}555{line:04d}"
    if u < 0.67:
        return f"({area}) 555-{line:04d}"
    if u < 0.72:
        return f"{area}-555-{line:04d}"
    uk = 124 + n % 876
    return f"+44 7700 900{uk:03d}" if n % 2 else f"+447700900{uk:03d}"


class RandomCustomers:
    """Writes random customers and their histories into a Sink."""

    def __init__(self, rng: random.Random, sink: Sink) -> None:
        self._rng = rng
        self._sink = sink

    def emit(self, customer_id: str, n: int, created: int) -> None:
        """One customer row and everything that customer did up to now."""
        r = self._rng.random
        sink = self._sink
        iso = sink.clock.iso

        first, first_slug = _FIRST[int(r() * len(_FIRST))]
        last, last_slug = _LAST[int(r() * len(_LAST))]
        tz = cat.TIMEZONES[int(r() * len(cat.TIMEZONES))]
        cities = cat.CITIES_BY_ZONE[tz]
        city = "" if r() < 0.05 else cities[int(r() * len(cities))]
        u = r()
        domain = cat.EMAIL_DOMAINS[int(r() * len(cat.EMAIL_DOMAINS))]
        if u < 0.03:
            email = ""
        elif u < 0.05:
            email = f"{first_slug.title()}.{last_slug.title()}{n}@{domain.title()}"
        elif u < 0.55:
            email = f"{first_slug}.{last_slug}{n}@{domain}"
        elif u < 0.8:
            email = f"{first_slug[0]}{last_slug}{n}@{domain}"
        else:
            email = f"{first_slug}_{n}@{domain}"
        phone = _phone(n, r())
        u = r()
        email_in = "true" if u < 0.84 else ("false" if u < 0.97 else "")
        u = r()
        if phone:
            sms_in = "true" if u < 0.42 else ("false" if u < 0.95 else "")
        else:
            sms_in = "false" if u < 0.9 else ""
        birthday = "" if r() < 0.3 else str(1 + int(r() * 12))
        sink.customer(
            f"{customer_id},{email},{phone},{first},{last},{tz},{iso(created)},"
            f"{email_in},{sms_in},{city},{birthday}"
        )

        engagement = r()
        signup = _SIGNUP[int(r() * len(_SIGNUP))]
        if r() < 0.88:
            sink.track(created, customer_id, "Signed Up", f'{{"method":"{signup}"}}')
        life = NOW_TS - created
        explorer_points: list[tuple[int, int]] = []

        buys = int(2.8 * engagement * engagement)
        if r() < 0.68:
            buys += 1
            first_at = created + 60 + int(r() * 20 * MINUTE)
            first_item = _FIRST_ITEM[int(r() * len(_FIRST_ITEM))]
        else:
            first_at = 0
            first_item = ""
        for index in range(buys):
            if index == 0 and first_at:
                at, item, channel = first_at, first_item, _CHANNEL_OF[signup]
            else:
                at = created + int(r() * life)
                item = _LATER_ITEM[int(r() * len(_LATER_ITEM))]
                channel = _CHANNEL[int(r() * len(_CHANNEL))]
            if at > NOW_TS:
                at = NOW_TS
            price = _PRICE[item]
            if price and item in _PROMO and r() < 0.15:
                price = _PROMO[item]
            status = _STATUS[int(r() * len(_STATUS))] if price else "active"
            duration = _DURATION[item]
            expires = at + duration if duration else 0
            explicit: int | None = None
            if duration and r() < 0.08:
                expires += 30 * DAY if r() < 0.5 else 0  # a goodwill extension, written out
                explicit = expires
            sink.purchase(at, customer_id, item, channel, explicit, status, price)
            if item == cat.MEMBERSHIP and status == "active":
                self._tickets(customer_id, at, min(expires, NOW_TS), engagement)
            if channel != "in_person" and price:
                if duration and r() < 0.5:
                    seen = max(created, at - 2 * MINUTE - int(r() * 2 * DAY))
                    sink.track(seen, customer_id, "Pass Viewed", f'{{"pass":"{item}"}}')
                refund = None
                if status == "refunded" and NOW_TS - at > MINUTE:
                    refund = min(NOW_TS, at + MINUTE + int(r() * 9 * DAY))
                sink.order(at, customer_id, price, refund)
            if item in _PASS_LOCATIONS and status == "active":
                self._checkins(
                    customer_id, item, at, min(expires, NOW_TS), engagement, explorer_points
                )

        if explorer_points:
            self._prizes(customer_id, explorer_points)
        self._shop(customer_id, created, life, engagement)

        sessions = int(r() * (1 + 5 * engagement))
        for _ in range(sessions):
            u = r()
            at = NOW_TS - int(life * u * u * u)
            platform = _PLATFORM[int(r() * 3)]
            sink.track(at, customer_id, "Session Started", f'{{"platform":"{platform}"}}')
        if r() < 0.05:
            self._identify(customer_id, n, created, life, email, phone, first, last, tz)

    def _checkins(
        self,
        customer_id: str,
        pass_id: str,
        start: int,
        end: int,
        engagement: float,
        explorer_points: list[tuple[int, int]],
    ) -> None:
        """Check-ins inside [start, end], mostly during opening hours; some passes never used."""
        r = self._rng.random
        span = end - start
        if span < HOUR or r() < 0.12:
            return
        mean = CHECKINS_PER_YEAR * span / YEAR * (0.25 + 1.5 * engagement)
        count = min(60, int(-mean * math.log(1.0 - r())))
        places, points = _PASS_LOCATIONS[pass_id]
        record = self._sink.redemption
        for _ in range(count):
            at = start + int(r() * span)
            local = (at - _MST) % DAY
            if local < _OPEN or local >= _CLOSE:
                moved = at - local + _OPEN + int(r() * (_CLOSE - _OPEN))
                if start <= moved <= end:
                    at = moved
            k = int(r() * len(places))
            record(at, customer_id, pass_id, places[k], points[k])
            if pass_id == cat.EXPLORER:
                explorer_points.append((at, points[k]))

    def _tickets(self, customer_id: str, start: int, end: int, engagement: float) -> None:
        """Members' exclusive tickets, free to members, taken during the membership."""
        r = self._rng.random
        for _ in range(int(r() * (1 + 3 * engagement))):
            at = start + HOUR + int(r() * (end - start))
            if at <= end:
                channel = "app" if r() < 0.6 else "in_person"
                self._sink.purchase(at, customer_id, cat.TICKET, channel, None, "active", 0)

    def _prizes(self, customer_id: str, explorer_points: list[tuple[int, int]]) -> None:
        """Claim a mug at 50 points and a T-shirt at 100, some time after reaching them."""
        r = self._rng.random
        explorer_points.sort()
        total = 0
        for at, points in explorer_points:
            before, total = total, total + points
            for threshold, item, chance in ((50, cat.MUG, 0.35), (100, cat.TSHIRT, 0.45)):
                if before < threshold <= total and r() < chance:
                    claimed = min(NOW_TS, at + HOUR + int(r() * 20 * DAY))
                    channel = "in_person" if r() < 0.7 else "app"
                    self._sink.purchase(claimed, customer_id, item, channel, None, "active", 0)

    def _shop(self, customer_id: str, created: int, life: int, engagement: float) -> None:
        """Gift-shop browsing and orders, events only; heavy shoppers drive high LTV."""
        r = self._rng.random
        sink = self._sink
        views = int(r() * (1 + 2 * engagement))
        orders = 0
        if r() < 0.18:
            orders = 1 + int(-math.log(1.0 - r()) * (0.5 + 10 * engagement**6))
        for index in range(views + orders):
            u = r()
            at = NOW_TS - int(life * u * u)
            quarters = max(20, round(r() * r() * 600) + 20)
            sku = f"sku-{int(r() * 400):04d}"
            product = f'{{"product_id":"{sku}","price":{number(quarters)}}}'
            if index >= views:
                seen = max(created, at - 2 * MINUTE - int(r() * HOUR))
                sink.track(seen, customer_id, "Product Viewed", product)
                sink.order(at, customer_id, quarters + int(r() * 3) * 20)
            else:
                sink.track(at, customer_id, "Product Viewed", product)

    def _identify(
        self,
        customer_id: str,
        n: int,
        created: int,
        life: int,
        email: str,
        phone: str,
        first: str,
        last: str,
        tz: str,
    ) -> None:
        """A later identify call that changes one trait, as a profile edit in the app would."""
        r = self._rng.random
        traits = {"email": email, "firstName": first, "lastName": last, "phone": phone}
        traits["timezone"] = tz
        change = int(r() * 4)
        if change == 0:
            traits["phone"] = _phone(n + 7, 0.0)
        elif change == 1:
            zones = [zone for zone in _MOVES if zone != tz]
            traits["timezone"] = zones[int(r() * len(zones))]
        elif change == 2:
            traits["email"] = f"{_slug(first)}.{n}@mail.example.net"
        else:
            names = [name for name, _ in _LAST if name != last]
            traits["lastName"] = names[int(r() * len(names))]
        self._sink.identify(created + int(r() * life), customer_id, traits)
