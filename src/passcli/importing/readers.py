"""Rows out of CSV and JSON Lines files, each with the line it started on.

Files are read as bytes and decoded line by line, so that a line that is not UTF-8 rejects
only its own row; the byte count read so far drives the progress bar.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

from passcli.errors import UsageError

Format = Literal["csv", "jsonl"]

FORMATS_BY_SUFFIX: dict[str, Format] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass(frozen=True, slots=True)
class RawRow:
    """One record as read: CSV values are strings, JSON values keep their JSON types.

    `error` is set when the record could not be read at all (bad UTF-8, bad JSON).
    """

    line: int
    values: dict[str, Any]
    error: str | None = None


def detect_format(path: Path, explicit: str | None) -> Format:
    """The format named by --format, else by the file's extension."""
    if explicit is not None:
        if explicit not in ("csv", "jsonl", "ndjson"):
            raise UsageError(f"--format must be csv or jsonl, not {explicit!r}")
        return "csv" if explicit == "csv" else "jsonl"
    try:
        return FORMATS_BY_SUFFIX[path.suffix.lower()]
    except KeyError:
        raise UsageError(
            f"cannot tell the format of {path.name}: name it .csv, .jsonl or .ndjson, "
            "or pass --format"
        ) from None


@dataclass
class LineSource:
    """Decoded lines of a binary file, remembering which were not valid UTF-8."""

    handle: BinaryIO
    bytes_read: int = 0
    line_no: int = 0
    bad_lines: set[int] = field(default_factory=set)

    def __iter__(self) -> Iterator[str]:
        for raw in self.handle:
            self.bytes_read += len(raw)
            self.line_no += 1
            if self.line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                self.bad_lines.add(self.line_no)
                yield raw.decode("utf-8", errors="replace")


class CsvReader:
    """Header and rows of a CSV file; line 1 is the header."""

    def __init__(self, handle: BinaryIO, name: str) -> None:
        self.source = LineSource(handle)
        self._reader = csv.reader(self.source)
        try:
            first = next(self._reader)
        except StopIteration:
            raise UsageError(f"{name} is empty: a CSV file needs a header row") from None
        except csv.Error as exc:
            raise UsageError(f"{name} is not a CSV file: {exc}") from None
        if self.source.bad_lines:
            raise UsageError(f"{name} is not UTF-8 text (its header row cannot be decoded)")
        self.header = [column.strip() for column in first]

    @property
    def bytes_read(self) -> int:
        return self.source.bytes_read

    def __iter__(self) -> Iterator[RawRow]:
        header = self.header
        width = len(header)
        reader = self._reader
        bad_lines = self.source.bad_lines
        end = 1
        while True:
            start = end + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                end = reader.line_num
                yield RawRow(start, {}, f"not valid CSV: {exc}")
                continue
            end = reader.line_num
            if not values:
                continue
            if bad_lines and any(start <= n <= end for n in bad_lines):
                yield RawRow(start, {}, "not valid UTF-8 text")
            elif len(values) != width:
                yield RawRow(start, {}, f"{len(values)} fields, but the header has {width}")
            else:
                yield RawRow(start, dict(zip(header, values, strict=True)))


class JsonLinesReader:
    """One JSON object per line; blank lines are ignored."""

    def __init__(self, handle: BinaryIO) -> None:
        self.source = LineSource(handle)

    @property
    def bytes_read(self) -> int:
        return self.source.bytes_read

    def __iter__(self) -> Iterator[RawRow]:
        source = self.source
        for text in source:
            if not text.strip():
                continue
            line = source.line_no
            if line in source.bad_lines:
                yield RawRow(line, {}, "not valid UTF-8 text")
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                yield RawRow(line, {}, f"not valid JSON: {exc.msg} at column {exc.colno}")
                continue
            if not isinstance(value, dict):
                yield RawRow(line, {}, "not a JSON object")
                continue
            yield RawRow(line, value)
