"""Deterministic, realistic example data in passcli's import formats (SPEC §2).

A Denver attractions pass program: customers, items, purchases, check-ins (redemptions) and
Segment-spec events, built around one fixed instant so that every SPEC §3 segment has members
at any size from 50 customers up. `examples/` holds the default output; `generate()` writes
any size (1,000,000 customers is about 1.4 GB) with flat memory.
"""

from passcli.sampledata.clock import REFERENCE_NOW, TIMEZONE
from passcli.sampledata.generator import DEFAULT_CUSTOMERS, DEFAULT_SEED, FILES, generate

__all__ = [
    "DEFAULT_CUSTOMERS",
    "DEFAULT_SEED",
    "FILES",
    "REFERENCE_NOW",
    "TIMEZONE",
    "generate",
]
