"""Formatting of the five files' rows, and the sink that generators hand their records to.

Purchases, redemptions and events go through a LineSorter as `<timestamp>\\t<row>` lines and
get their ids when they are written, in time order, so that ids sort in creation order.
Order ids in events are filled in the same way; a refund names its order by a key that is
resolved when the merged stream reaches it (the refund is always later than its order).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TextIO

from passcli.sampledata.catalog import ITEMS
from passcli.sampledata.clock import Clock
from passcli.sampledata.sorting import LineSorter

HEADERS: dict[str, str] = {
    "items.csv": "id,name,kind,duration_days",
    "customers.csv": (
        "id,email,phone,first_name,last_name,timezone,created_at,email_opt_in,sms_opt_in,"
        "city,birthday_month"
    ),
    "purchases.csv": "id,customer_id,item,channel,purchased_at,expires_at,status,amount",
    "redemptions.csv": "id,customer_id,pass,location,redeemed_at,points",
}

_KEY = 21  # len("2026-11-22T17:00:00Z\t"): where a sorted line's payload starts
_WRITE_BATCH = 20_000


def money(quarters: int) -> str:
    """CSV amount: 236 quarters -> "59.00"."""
    return f"{quarters // 4}.{quarters % 4 * 25:02d}"


def number(quarters: int) -> str:
    """JSON number for an amount in quarters; exact in binary floating point."""
    return repr(quarters / 4)


class Sink:
    """Receives generated records; writes customers straight away, sorts the rest."""

    def __init__(self, work_dir: Path, customers: TextIO, clock: Clock) -> None:
        self.clock = clock
        self.purchases = LineSorter(work_dir, "purchases")
        self.redemptions = LineSorter(work_dir, "redemptions")
        self.events = LineSorter(work_dir, "events")
        self._customers_file = customers
        self.customer_rows: list[str] = []
        self.customer_count = 0
        self._refund_keys = 0

    # -- customers --------------------------------------------------------------------------

    def customer(self, row: str) -> None:
        """One customers.csv row (without newline), already in id order."""
        self.customer_rows.append(row + "\n")
        self.customer_count += 1
        if len(self.customer_rows) >= _WRITE_BATCH:
            self.flush()

    def flush(self) -> None:
        """Write buffered customers and spill full sort buffers."""
        self._customers_file.writelines(self.customer_rows)
        self.customer_rows = []
        self.purchases.spill_if_full()
        self.redemptions.spill_if_full()
        self.events.spill_if_full()

    # -- purchases and redemptions ----------------------------------------------------------

    def purchase(
        self,
        ts: int,
        customer_id: str,
        item: str,
        channel: str,
        expires_ts: int | None,
        status: str,
        quarters: int,
    ) -> None:
        """A purchases.csv row; `expires_ts` None leaves expires_at blank (derived on import)."""
        at = self.clock.iso(ts)
        expires = "" if expires_ts is None else self.clock.iso(expires_ts)
        self.purchases.lines.append(
            f"{at}\t{customer_id},{item},{channel},{at},{expires},{status},{money(quarters)}\n"
        )

    def redemption(
        self, ts: int, customer_id: str, pass_id: str, location: str, points: int
    ) -> None:
        """A redemptions.csv row."""
        at = self.clock.iso(ts)
        self.redemptions.lines.append(f"{at}\t{customer_id},{pass_id},{location},{at},{points}\n")

    # -- events -----------------------------------------------------------------------------

    def track(self, ts: int, user_id: str, event: str, properties: str) -> None:
        """A track call; `properties` is a JSON object already serialised."""
        at = self.clock.iso(ts)
        self.events.lines.append(
            f'{at}\t-{{"type":"track","userId":"{user_id}","event":"{event}",'
            f'"properties":{properties},"timestamp":"{at}"\n'
        )

    def order(self, ts: int, user_id: str, quarters: int, refunded_at: int | None = None) -> None:
        """An "Order Completed" with the next order id, and its "Order Refunded" if any."""
        at = self.clock.iso(ts)
        body = (
            f'{{"type":"track","userId":"{user_id}","event":"Order Completed",'
            f'"properties":{{"revenue":{number(quarters)},"order_id":"@@"}},"timestamp":"{at}"\n'
        )
        if refunded_at is None:
            self.events.lines.append(f"{at}\to{body}")
            return
        self._refund_keys += 1
        key = self._refund_keys
        back = self.clock.iso(refunded_at)
        self.events.lines.append(f"{at}\tO{key}\t{body}")
        self.events.lines.append(
            f'{back}\tR{key}\t{{"type":"track","userId":"{user_id}","event":"Order Refunded",'
            f'"properties":{{"order_id":"@@","total":{number(quarters)}}},"timestamp":"{back}"\n'
        )

    def identify(self, ts: int, user_id: str, traits: Mapping[str, str]) -> None:
        """An identify call carrying `traits` (blank values left out)."""
        at = self.clock.iso(ts)
        kept = {name: value for name, value in traits.items() if value}
        text = json.dumps(kept, ensure_ascii=False, separators=(",", ":"))
        self.events.lines.append(
            f'{at}\t-{{"type":"identify","userId":"{user_id}","traits":{text},"timestamp":"{at}"\n'
        )


# -- writing the sorted files ---------------------------------------------------------------


def _batched(lines: Iterable[str], out: TextIO) -> None:
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= _WRITE_BATCH:
            out.writelines(batch)
            batch = []
    out.writelines(batch)


def write_items(out: TextIO) -> int:
    """items.csv, in catalogue order."""
    out.write(HEADERS["items.csv"] + "\n")
    for item in ITEMS:
        days = "" if item.duration_days is None else str(item.duration_days)
        out.write(f"{item.id},{item.name},{item.kind},{days}\n")
    return len(ITEMS)


def write_numbered(out: TextIO, header: str, prefix: str, sorter: LineSorter) -> int:
    """A CSV whose rows get ids `<prefix><8 digits>` in sorted order."""
    out.write(header + "\n")
    count = 0

    def rows() -> Iterator[str]:
        nonlocal count
        for count, line in enumerate(sorter.sorted_lines(), start=1):  # noqa: B007
            yield f"{prefix}{count:08d},{line[_KEY:]}"

    _batched(rows(), out)
    return count


def write_events(out: TextIO, sorter: LineSorter) -> int:
    """events.jsonl: message ids and order ids assigned in time order."""
    count = 0
    orders = 0
    pending: dict[str, str] = {}

    def rows() -> Iterator[str]:
        nonlocal count, orders
        for count, line in enumerate(sorter.sorted_lines(), start=1):  # noqa: B007
            flag = line[_KEY]
            body = line[_KEY + 1 : -1]
            if flag == "o":
                orders += 1
                body = body.replace("@@", f"o{orders:08d}", 1)
            elif flag == "O":
                key, body = body.split("\t", 1)
                orders += 1
                pending[key] = f"o{orders:08d}"
                body = body.replace("@@", pending[key], 1)
            elif flag == "R":
                key, body = body.split("\t", 1)
                body = body.replace("@@", pending.pop(key), 1)
            yield f'{body},"messageId":"e{count:09d}"}}\n'

    _batched(rows(), out)
    return count
