"""Rows out of CSV and JSON Lines files, each with the line it started on.

A line that is not UTF-8 rejects only its own row; the byte count read so far drives the
progress bar.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

import orjson

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


def open_text(path: Path) -> TextIO:
    """The file as text for the readers.

    surrogateescape: a byte that is not UTF-8 survives as a lone surrogate, so one bad line
    rejects its own row instead of stopping the file (checked by `_valid_utf8`).
    """
    return path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")


def _valid_utf8(values: list[str]) -> bool:
    if "".join(values).isascii():
        return True
    try:
        for value in values:
            value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class CsvReader:
    """Header and rows of a CSV file; line 1 is the header."""

    def __init__(self, handle: TextIO, name: str) -> None:
        self._handle = handle
        self._reader = csv.reader(handle)
        try:
            first = next(self._reader)
        except StopIteration:
            raise UsageError(f"{name} is empty: a CSV file needs a header row") from None
        except csv.Error as exc:
            raise UsageError(f"{name} is not a CSV file: {exc}") from None
        if not _valid_utf8(first):
            raise UsageError(f"{name} is not UTF-8 text (its header row cannot be decoded)")
        self.header = [column.strip() for column in first]

    @property
    def bytes_read(self) -> int:
        return self._handle.buffer.tell()

    def __iter__(self) -> Iterator[RawRow]:
        header = self.header
        width = len(header)
        reader = self._reader
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
            if len(values) != width:
                yield RawRow(start, {}, f"{len(values)} fields, but the header has {width}")
            elif not _valid_utf8(values):
                yield RawRow(start, {}, "not valid UTF-8 text")
            else:
                yield RawRow(start, dict(zip(header, values, strict=True)))


class JsonLinesReader:
    """One JSON object per line; blank lines are ignored."""

    def __init__(self, handle: TextIO) -> None:
        self._handle = handle

    @property
    def bytes_read(self) -> int:
        return self._handle.buffer.tell()

    def __iter__(self) -> Iterator[RawRow]:
        loads = orjson.loads
        for line, text in enumerate(self._handle, start=1):
            if not text.isascii() and not _valid_utf8([text]):
                yield RawRow(line, {}, "not valid UTF-8 text")
                continue
            try:
                value = loads(text)
            except orjson.JSONDecodeError as exc:
                if text.strip():
                    yield RawRow(line, {}, f"not valid JSON: {exc.msg} at column {exc.colno}")
                continue
            if not isinstance(value, dict):
                yield RawRow(line, {}, "not a JSON object")
                continue
            yield RawRow(line, value)
