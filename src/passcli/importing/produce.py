"""Reading and normalising a file into batches of store records.

This half of an import does no I/O against the store, so `parallel.py` can run it in a
worker process on the other core while the parent writes the previous batch.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from passcli.importing import rows as r
from passcli.importing.fields import FieldError
from passcli.importing.readers import CsvReader, JsonLinesReader, open_text

BATCH_SIZE = 2_000


@dataclass
class Batch:
    """Normalised rows with their line numbers, the rows rejected on the way, and how far
    into the file (in bytes) the reader got."""

    rows: list[tuple[int, Any]] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    bytes_read: int = 0


def produce(
    path: Path, kind: str, file_format: str, ctx: r.RowContext, batch_size: int | None = None
) -> Generator[Batch, None, None]:
    size = batch_size or BATCH_SIZE
    normalise = normaliser(kind)
    with open_text(path) as handle:
        reader: CsvReader | JsonLinesReader = (
            JsonLinesReader(handle) if file_format == "jsonl" else CsvReader(handle, path.name)
        )
        rows = iter(reader)
        while raw_rows := list(islice(rows, size)):
            batch = Batch()
            for raw in raw_rows:
                if raw.error is not None:
                    batch.rejected.append((raw.line, raw.error))
                    continue
                try:
                    batch.rows.append((raw.line, normalise(raw.values, ctx)))
                except FieldError as exc:
                    batch.rejected.append((raw.line, str(exc)))
            batch.bytes_read = reader.bytes_read
            yield batch


def normaliser(kind: str) -> Callable[[dict[str, Any], r.RowContext], Any]:
    if kind == "customers":
        return r.customer_from_columns
    if kind == "items":
        return r.item_record
    if kind == "purchases":
        return r.purchase_record
    if kind == "redemptions":
        return r.redemption_record
    if kind == "bounces":
        return r.bounce_record
    return _event


def _event(raw: dict[str, Any], ctx: r.RowContext) -> Any:
    kind = raw.get("type")
    if kind == "track":
        return r.track_record(raw, ctx)
    if kind == "identify":
        return r.customer_from_identify(raw, ctx)
    raise FieldError(f"type must be track or identify, not {kind!r}")
