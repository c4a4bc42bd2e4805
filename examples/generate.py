"""Regenerate the example data set (see README.md in this folder).

    python examples/generate.py [--customers N] [--seed S] [--out DIR]

With no arguments it rewrites the files beside this script, which a test compares byte for
byte with a fresh generation. Larger sizes are for benchmarks: `--customers 1000000` writes
about 1.4 GB (customers, 1.5M purchases, 5M redemptions, 5M events) in a minute or two.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from passcli.sampledata import DEFAULT_CUSTOMERS, DEFAULT_SEED, FILES, generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve().parent
    parser.add_argument(
        "--customers", type=int, default=DEFAULT_CUSTOMERS, metavar="N", help="default: %(default)s"
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, metavar="S", help="default: %(default)s"
    )
    parser.add_argument(
        "--out", type=Path, default=here, metavar="DIR", help="default: this folder"
    )
    args = parser.parse_args(argv)
    if args.customers < 0:
        parser.error("--customers must be 0 or more")
    started = time.perf_counter()
    counts = generate(args.out, customers=args.customers, seed=args.seed)
    elapsed = time.perf_counter() - started
    for name in FILES:
        print(f"{args.out / name}  {counts[name]:>12,} rows", file=sys.stderr)
    print(f"{elapsed:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
