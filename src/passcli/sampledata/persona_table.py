"""The personas themselves (see personas.py). Local America/Denver times; now = 2026-11-22 10:00.

Roles name the segments a persona is meant to be in (+) or kept out of (-), so a failing
segment test points at the edge case it trips over. Names are not in catalog.py's name lists,
so no random customer shares one.
"""

from __future__ import annotations

from typing import Final

from passcli.sampledata.catalog import BREWERY, EXPLORER, MEMBERSHIP, MUG, TICKET, TSHIRT
from passcli.sampledata.personas import Buy, Order, Persona, Visits

DENVER = "America/Denver"
BERLIN = "Europe/Berlin"
SYDNEY = "Australia/Sydney"

# A data table: one persona per block reads better than one argument per line.
# fmt: off
PERSONAS: Final[tuple[Persona, ...]] = (
    Persona(
        role="+super-users: 145 explorer points over two passes, T-shirt claimed",
        first="Maya", last="Thompson", email="maya.thompson@example.com", phone="+13035550101",
        tz=DENVER, city="Denver", created="2023-11-04 09:12", birthday="4", sms_opt_in="true",
        buys=(
            Buy(EXPLORER, "2025-03-14 10:12", "in_person"),
            Buy(TSHIRT, "2025-08-02 13:00", "in_person"),
            Buy(EXPLORER, "2026-03-20 18:05", "app"),
        ),
        visits=(
            Visits(EXPLORER, "2025-03-15 11:00", 14,
                   ("zoo", "meow-wolf", "art-museum", "red-rocks", "aquarium", "nature-science")),
            Visits(EXPLORER, "2026-03-22 13:30", 30,
                   ("botanic-gardens", "clyfford-still", "history-colorado")),
        ),
        sessions=("2026-11-20 19:30", "2026-11-22 08:15"),
    ),
    Persona(
        role="+expires-soon (13 days) +super-users +high-ltv, lives in Berlin",
        first="Felix", last="Wagner", email="felix.wagner@example.org", phone="",
        tz=BERLIN, city="Berlin", created="2023-11-18 03:00", birthday="9",
        buys=(Buy(EXPLORER, "2025-12-05 09:30"), Buy(TSHIRT, "2026-06-10 12:00", "in_person")),
        visits=(
            Visits(EXPLORER, "2025-12-06 10:00", 20,
                   ("meow-wolf", "zoo", "red-rocks", "art-museum", "aquarium", "clyfford-still")),
        ),
        orders=(
            Order("2026-09-12 11:00", 120.00),
            Order("2026-10-20 16:45", 95.25),
            Order("2026-11-15 10:10", 110.00),
        ),
        sessions=("2026-11-21 01:00",),
    ),
    Persona(
        role="-super-users: exactly 100 explorer points (not > 100) and a T-shirt",
        first="Priya", last="Natarajan", email="priya.natarajan@example.com",
        phone="(720) 555-0103", tz=DENVER, city="Aurora", created="2023-12-01 12:00",
        buys=(
            Buy(EXPLORER, "2026-02-14 11:00", "in_person"),
            Buy(BREWERY, "2026-04-01 17:00", "app"),
            Buy(TSHIRT, "2026-07-01 15:00", "in_person"),
        ),
        visits=(
            Visits(EXPLORER, "2026-02-15 10:30", 21,
                   ("meow-wolf", "meow-wolf", "zoo", "red-rocks", "botanic-gardens")),
            Visits(BREWERY, "2026-04-03 18:00", 30, ("odell", "new-belgium")),
        ),
    ),
    Persona(
        role="-super-users: 150 explorer points but only a mug",
        first="Noah", last="Fairbanks", email="noah.fairbanks@example.com", phone="+17205550104",
        tz=DENVER, city="Lakewood", created="2023-12-09 08:30", birthday="12", sms_opt_in="true",
        buys=(Buy(EXPLORER, "2026-01-05 09:00"), Buy(MUG, "2026-05-21 14:00", "in_person")),
        visits=(
            Visits(EXPLORER, "2026-01-06 12:00", 15,
                   ("meow-wolf", "zoo", "red-rocks", "art-museum", "aquarium", "nature-science",
                    "clyfford-still", "history-colorado", "forney-museum", "botanic-gardens")),
        ),
    ),
    Persona(
        role="+expires-soon (18 days), lives in Los Angeles, phone written nationally",
        first="Sofia", last="Ramírez", email="sofia.ramirez@example.com", phone="(303) 555-0105",
        tz="America/Los_Angeles", city="Los Angeles", created="2023-12-20 19:00", birthday="6",
        buys=(Buy(EXPLORER, "2025-12-10 14:00"),),
        visits=(Visits(EXPLORER, "2025-12-20 11:00", 40, ("zoo", "aquarium", "art-museum")),),
        identifies=(("2026-09-14 08:00", {"timezone": DENVER, "city": "Denver"}),),
    ),
    Persona(
        role="+expires-soon: explicit expiry later today (20:00 local, 03:00Z tomorrow)",
        first="Ethan", last="Whitfield", email="ethan.whitfield@example.net",
        phone="303-555-0106", tz=DENVER, city="Golden", created="2024-01-03 10:00",
        buys=(Buy(EXPLORER, "2025-11-22 20:00", "in_person", expires="2026-11-22 20:00"),),
        visits=(Visits(EXPLORER, "2025-12-01 15:00", 196, ("red-rocks", "zoo")),),
    ),
    Persona(
        role="-expires-soon -no-redemptions-yet: pass expired at 08:00 this morning",
        first="Olivia", last="Brookfield", email="olivia.brookfield@example.com", phone="",
        tz=DENVER, city="Denver", created="2024-01-10 17:20",
        buys=(Buy(EXPLORER, "2025-11-22 08:00"),),
    ),
    Persona(
        role="+expires-soon: 29 days left",
        first="Lucas", last="Vance", email="lucas.vance@example.com", phone="+13035550108",
        tz=DENVER, city="Littleton", created="2024-01-15 12:00",
        buys=(Buy(EXPLORER, "2025-12-21 12:00", "app"),),
        visits=(Visits(EXPLORER, "2026-01-02 13:00", 1, ("childrens-museum",)),),
    ),
    Persona(
        role="-expires-soon: exactly 30 days left",
        first="Nora", last="Lindqvist", email="nora.lindqvist@example.com", phone="",
        tz=DENVER, city="Boulder", created="2024-01-20 09:00",
        buys=(Buy(EXPLORER, "2025-12-22 12:00", "in_person"),),
        visits=(Visits(EXPLORER, "2026-02-01 14:00", 60, ("art-museum", "zoo")),),
    ),
    Persona(
        role="+expires-soon (9 days) +super-users +high-ltv, Sydney, SMS opted in",
        first="Isla", last="Murray", email="isla.murray@example.com", phone="+61 491 570 156",
        tz=SYDNEY, city="Sydney", created="2024-01-25 16:00", birthday="2", sms_opt_in="true",
        signup="app",
        buys=(
            Buy(EXPLORER, "2025-12-01 15:00", "app"),
            Buy(TSHIRT, "2026-04-18 12:00", "in_person"),
        ),
        visits=(
            Visits(EXPLORER, "2025-12-02 10:00", 10,
                   ("meow-wolf", "red-rocks", "zoo", "nature-science", "art-museum", "aquarium")),
        ),
        orders=(
            Order("2026-09-05 02:00", 85.50),
            Order("2026-10-11 03:30", 99.75),
            Order("2026-11-19 01:15", 64.25),
            Order("2026-11-21 22:10", 45.00),
        ),
        sessions=("2026-11-21 22:00",),
    ),
    Persona(
        role="+no-redemptions-yet: active explorer pass, check-ins only on the brewery pass",
        first="Jackson", last="Reid", email="jackson.reid@example.com", phone="+17205550111",
        tz=DENVER, city="Arvada", created="2024-02-02 18:00",
        buys=(Buy(EXPLORER, "2026-09-05 10:00"), Buy(BREWERY, "2026-09-05 10:02")),
        visits=(Visits(BREWERY, "2026-09-12 19:00", 14, ("great-divide", "cerebral", "wynkoop")),),
    ),
    Persona(
        role="+pass-participants only: explorer pass cancelled",
        first="Ruby", last="Castillo", email="ruby.castillo@example.com", phone="",
        tz=DENVER, city="Englewood", created="2024-02-05 11:00",
        buys=(Buy(EXPLORER, "2026-10-01 12:00", status="cancelled"),),
    ),
    Persona(
        role="-new-signups: bought 2 days ago but refunded (Order Refunded)",
        first="Mason", last="Clarke", email="mason.clarke@example.com", phone="+13035550113",
        tz=DENVER, city="Denver", created="2024-02-08 13:00",
        buys=(Buy(EXPLORER, "2026-11-20 10:00", status="refunded", refunded="2026-11-21 09:30"),),
    ),
    Persona(
        role="+high-ltv: 3 orders in 90 days, 504.75 lifetime; member; SMS opted in",
        first="Harriet", last="Vance", email="harriet.vance@example.com", phone="+13035550114",
        tz=DENVER, city="Denver", created="2024-02-10 10:30", birthday="7", sms_opt_in="true",
        buys=(Buy(MEMBERSHIP, "2026-05-01 09:00"),),
        orders=(
            Order("2025-07-04 14:00", 80.00),
            Order("2026-09-02 12:00", 120.00),
            Order("2026-10-15 13:30", 95.50),
            Order("2026-11-18 18:20", 110.25),
        ),
        sessions=("2026-11-21 07:45", "2026-11-22 09:30"),
    ),
    Persona(
        role="+high-ltv: 4 orders in 90 days, 312.50; phone written nationally, SMS opted in",
        first="Marcus", last="Bell", email="marcus.bell@example.com", phone="720-555-0115",
        tz=DENVER, city="Centennial", created="2024-02-14 20:00", sms_opt_in="true",
        buys=(Buy(EXPLORER, "2026-06-01 10:00", "in_person"),),
        visits=(Visits(EXPLORER, "2026-06-02 10:00", 35, ("zoo", "aquarium", "art-museum")),),
        orders=(
            Order("2026-08-30 12:00", 75.00),
            Order("2026-09-28 12:00", 82.50),
            Order("2026-10-26 12:00", 70.00),
            Order("2026-11-21 12:00", 85.00),
        ),
        sessions=("2026-11-21 11:50",),
    ),
    Persona(
        role="-high-ltv: 3 orders in 90 days but revenue exactly 300.00 (not > 300)",
        first="Wendy", last="Stroud", email="wendy.stroud@example.com", phone="+13035550116",
        tz=DENVER, city="Thornton", created="2024-02-18 09:00", sms_opt_in="true",
        orders=(
            Order("2026-09-10 12:00", 100.00),
            Order("2026-10-10 12:00", 125.25),
            Order("2026-11-10 12:00", 74.75),
        ),
    ),
    Persona(
        role="-high-ltv: 450.00, but the first of 3 orders is exactly 90 days (24 h each) ago",
        first="Desmond", last="Hale", email="desmond.hale@example.com", phone="+13035550117",
        tz=DENVER, city="Denver", created="2024-02-20 15:00",
        # 11:00 MDT = 17:00Z = now - 90 * 86400 s; a wall-clock "90 days ago" would be 16:00Z.
        orders=(
            Order("2026-08-24 11:00", 200.00),
            Order("2026-10-01 12:00", 125.00),
            Order("2026-11-10 12:00", 125.00),
        ),
    ),
    Persona(
        role="member: active annual membership, three members' tickets",
        first="Camille", last="Dubois", email="camille.dubois@example.com", phone="+13035550118",
        tz=DENVER, city="Denver", created="2024-02-24 10:00",
        buys=(
            Buy(MEMBERSHIP, "2026-03-01 10:00"),
            Buy(TICKET, "2026-04-12 11:00", "in_person"),
            Buy(TICKET, "2026-07-04 10:00", "app"),
            Buy(TICKET, "2026-10-18 13:00", "app"),
        ),
    ),
    Persona(
        role="former member: membership expired 2026-05-01",
        first="Theo", last="Marsh", email="theo.marsh@example.com", phone="",
        tz=DENVER, city="Golden", created="2024-02-28 12:00",
        buys=(Buy(MEMBERSHIP, "2025-05-01 09:00"), Buy(TICKET, "2025-06-14 10:00", "in_person")),
    ),
    Persona(
        role="member: membership with an explicit expiry (end of 2026)",
        first="Amelia", last="Frost", email="amelia.frost@example.com", phone="+13035550120",
        tz=DENVER, city="Boulder", created="2024-03-02 16:00",
        buys=(
            Buy(MEMBERSHIP, "2025-12-15 12:00", "in_person", expires="2026-12-31 23:59:59"),
            Buy(TICKET, "2026-02-01 11:00", "app"),
        ),
    ),
    Persona(
        role="no email, phone only (SMS opted in); active explorer pass with check-ins",
        first="Rafael", last="Soto", email="", phone="+13035550121",
        tz=DENVER, city="Denver", created="2024-03-05 12:00", email_opt_in="", sms_opt_in="true",
        signup="in_person",
        buys=(Buy(EXPLORER, "2026-06-01 11:00", "in_person"),),
        visits=(Visits(EXPLORER, "2026-06-05 11:00", 20,
                       ("zoo", "aquarium", "history-colorado", "forney-museum")),),
    ),
    Persona(
        role="neither email nor phone; active explorer pass with check-ins",
        first="Greta", last="Holm", email="", phone="",
        tz="", city="", created="2024-03-08 12:00", email_opt_in="", sms_opt_in="",
        signup="in_person",
        buys=(Buy(EXPLORER, "2026-07-10 12:00", "in_person"),),
        visits=(Visits(EXPLORER, "2026-07-11 12:00", 30, ("meow-wolf", "zoo")),),
    ),
    Persona(
        role="mixed-case email (stored lower-cased); brewery pass only",
        first="Zoë", last="Brandt", email="Zoe.Brandt@Example.COM", phone="+17205550123",
        tz=DENVER, city="Denver", created="2024-03-12 12:00",
        buys=(Buy(BREWERY, "2026-04-20 18:00"),),
        visits=(Visits(BREWERY, "2026-04-25 18:00", 25,
                       ("great-divide", "odell", "cerebral", "comrade", "black-shirt")),),
    ),
    Persona(
        role="+no-redemptions-yet: UK phone, no time zone",
        first="Oliver", last="Pembroke", email="oliver.pembroke@example.co.uk",
        phone="+44 7700 900123", tz="", city="London", created="2024-03-15 04:00",
        sms_opt_in="true",
        buys=(Buy(EXPLORER, "2026-08-15 09:00"),),
    ),
    Persona(
        role="+no-redemptions-yet: opt-ins left blank (email yes, SMS no on import)",
        first="Lydia", last="Crane", email="lydia.crane@example.com", phone="(970) 555-0125",
        tz=DENVER, city="Fort Collins", created="2024-03-18 12:00",
        email_opt_in="", sms_opt_in="", signup="app",
        buys=(Buy(EXPLORER, "2026-10-05 12:00", "app"),),
    ),
    Persona(
        role="+pass-participants: explorer expired 2025; active brewery pass; adds phone later",
        first="Owen", last="Tate", email="owen.tate@example.com", phone="",
        tz=DENVER, city="Denver", created="2024-03-21 12:00",
        buys=(
            Buy(EXPLORER, "2024-06-01 10:00", "in_person"),
            Buy(BREWERY, "2026-05-15 17:00", "in_person"),
        ),
        visits=(
            Visits(EXPLORER, "2024-06-08 11:00", 30,
                   ("zoo", "art-museum", "aquarium", "red-rocks")),
            Visits(BREWERY, "2026-05-20 19:00", 30, ("ratio-beerworks", "station-26")),
        ),
        identifies=(("2026-10-03 08:00", {"phone": "+13035550126"}),),
    ),
    Persona(
        role="New York; recent explorer pass, checked in yesterday; renames herself",
        first="Nina", last="Russo", email="nina.russo@example.com", phone="+12125550127",
        tz="America/New_York", city="New York", created="2024-03-25 12:00",
        buys=(Buy(EXPLORER, "2026-11-15 12:00"),),
        visits=(Visits(EXPLORER, "2026-11-21 13:00", 1, ("meow-wolf",)),),
        sessions=("2026-11-21 12:40",),
        identifies=(("2026-11-21 14:00", {"lastName": "Russo-Hall"}),),
    ),
    # Fresh sign-ups: created in the last days, so they sit among the newest customer ids.
    Persona(
        role="+new-signups +no-redemptions-yet, lives in Berlin",
        first="Lena", last="Hartmann", email="lena.hartmann@example.org", phone="",
        tz=BERLIN, city="Berlin", created="2026-11-20 09:00",
        buys=(Buy(EXPLORER, "2026-11-20 09:05"),),
    ),
    Persona(
        role="+new-signups: 20:03 Denver on the 20th is already the 21st in UTC and Sydney",
        first="Lachlan", last="Byrne", email="lachlan.byrne@example.com",
        phone="+61 491 570 157", tz=SYDNEY, city="Sydney", created="2026-11-20 20:00",
        signup="app",
        buys=(Buy(EXPLORER, "2026-11-20 20:03", "app"),),
    ),
    Persona(
        role="+new-signups: bought exactly at local midnight starting the 20th",
        first="Ingrid", last="Salo", email="ingrid.salo@example.com", phone="+13035550130",
        tz=DENVER, city="Denver", created="2026-11-19 23:50",
        buys=(Buy(EXPLORER, "2026-11-20 00:00:00"),),
    ),
    Persona(
        role="-new-signups: 23:59:59 on the 19th local (already the 20th in UTC)",
        first="Victor", last="Lam", email="victor.lam@example.com", phone="+13035550131",
        tz=DENVER, city="Aurora", created="2026-11-19 23:40",
        buys=(Buy(EXPLORER, "2026-11-19 23:59:59"),),
    ),
    Persona(
        role="+new-signups via the app; SMS opted in",
        first="Samir", last="Qureshi", email="samir.qureshi@example.com", phone="+13035550132",
        tz=DENVER, city="Denver", created="2026-11-20 15:30", sms_opt_in="true", signup="app",
        buys=(Buy(EXPLORER, "2026-11-20 15:32", "app"),),
        sessions=("2026-11-21 08:10",),
    ),
    Persona(
        role="-new-signups: bought at local midnight starting the 21st (1 day ago)",
        first="Elsie", last="Park", email="elsie.park@example.com", phone="",
        tz=DENVER, city="Denver", created="2026-11-20 23:40",
        buys=(Buy(EXPLORER, "2026-11-21 00:00:00", "in_person"),),
    ),
    Persona(
        role="signed up yesterday, opened the app twice since, bought nothing yet",
        first="Mira", last="Kovač", email="mira.kovac@example.com", phone="+13035550134",
        tz=DENVER, city="Boulder", created="2026-11-21 12:00", signup="app",
        sessions=("2026-11-21 12:05", "2026-11-22 09:00"),
    ),
)
# fmt: on
