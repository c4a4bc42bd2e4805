"""`generate()`: write the five example files for a given size and seed.

Customers are numbered in creation order: the older personas first, then random customers
spread over 2024-04-01 .. now with sign-ups growing over time, with the fresh personas slotted
in where their sign-up time falls. Files are written into a scratch directory inside
`out_dir` and moved into place at the end, so a failed run never leaves half a data set.
"""

from __future__ import annotations

import math
import os
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path

from passcli.sampledata.clock import NOW_TS, Clock
from passcli.sampledata.history import RandomCustomers
from passcli.sampledata.persona_table import PERSONAS
from passcli.sampledata.personas import Persona, emit_arrivals, emit_persona
from passcli.sampledata.records import HEADERS, Sink, write_events, write_items, write_numbered

DEFAULT_SEED = 20261122
DEFAULT_CUSTOMERS = 300
FILES: tuple[str, ...] = (
    "items.csv",
    "customers.csv",
    "purchases.csv",
    "redemptions.csv",
    "events.jsonl",
)
"""The files, in the order they are imported (customers before what refers to them)."""

RANDOM_FROM = "2024-04-01 00:00"
"""Local time of the first random sign-up; every older customer is a persona."""


def _signups(rng: random.Random, count: int, start: int, end: int) -> Iterator[int]:
    """`count` non-decreasing sign-up times in [start, end), at a rate that grows over time.

    Inverse-CDF sampling of a stratified uniform: stratum j maps to t = g((j + u) / count),
    so the sequence is sorted without being held in memory.
    """
    span = end - start
    for j in range(count):
        x = (j + rng.random()) / count
        yield start + int(span * (x + math.sqrt(x)) / 2)


def generate(
    out_dir: Path, customers: int = DEFAULT_CUSTOMERS, seed: int = DEFAULT_SEED
) -> dict[str, int]:
    """Write the five files into out_dir; return rows written per file name.

    Every persona is included once `customers` >= len(PERSONAS) (34); below that, the
    oldest ones only. Memory stays flat in `customers`: rows stream to disk.
    """
    if customers < 0:
        raise ValueError(f"customers must be >= 0, not {customers}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    clock = Clock()
    ordered = sorted(PERSONAS, key=lambda p: clock.local(p.created))[:customers]
    randoms = customers - len(ordered)
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix=".generate-", dir=out_dir) as scratch:
        work = Path(scratch)
        with (work / "items.csv").open("w", encoding="utf-8", newline="\n") as out:
            counts["items.csv"] = write_items(out)
        with (work / "customers.csv").open("w", encoding="utf-8", newline="\n") as out:
            out.write(HEADERS["customers.csv"] + "\n")
            sink = Sink(work, out, clock)
            _emit_customers(sink, rng, ordered, randoms, clock)
            emit_arrivals(sink, customers + 1)
            sink.flush()
            counts["customers.csv"] = sink.customer_count
        for name, prefix, sorter in (
            ("purchases.csv", "p", sink.purchases),
            ("redemptions.csv", "r", sink.redemptions),
        ):
            with (work / name).open("w", encoding="utf-8", newline="\n") as out:
                counts[name] = write_numbered(out, HEADERS[name], prefix, sorter)
        with (work / "events.jsonl").open("w", encoding="utf-8", newline="\n") as out:
            counts["events.jsonl"] = write_events(out, sink.events)
        for name in FILES:
            os.replace(work / name, out_dir / name)
    return counts


def _emit_customers(
    sink: Sink, rng: random.Random, personas: list[Persona], randoms: int, clock: Clock
) -> None:
    """Customers in creation order: personas merged into the stream of random sign-ups."""
    people = RandomCustomers(rng, sink)
    pending = [(clock.local(p.created), p) for p in personas]
    next_persona = 0
    number = 0
    start = clock.local(RANDOM_FROM)
    for created in _signups(rng, randoms, start, NOW_TS - 600):
        while next_persona < len(pending) and pending[next_persona][0] <= created:
            number += 1
            emit_persona(sink, f"c{number:07d}", pending[next_persona][1])
            next_persona += 1
        number += 1
        people.emit(f"c{number:07d}", number, created)
        if number % 5_000 == 0:
            sink.flush()
    for _, persona in pending[next_persona:]:
        number += 1
        emit_persona(sink, f"c{number:07d}", persona)
