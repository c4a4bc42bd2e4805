"""Everything the CLI prints goes through here: stdout is data, stderr is talk."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from passcli.delivery.spool import Spool
from passcli.timeutil import iso_utc

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def jsonable(value: Any) -> Any:
    """Instants as ISO-8601 UTC strings (SPEC §5), recursively."""
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value


def print_json(document: Any) -> None:
    """One JSON document on stdout, nothing else there.

    Spooled lists (a send's recipients) are streamed from their file, one item a line, so
    printing a million recipients does not hold them in memory.
    """
    _write_json(sys.stdout, document, 0)
    sys.stdout.write("\n")
    sys.stdout.flush()


def _write_json(out: Any, value: Any, depth: int) -> None:
    pad = "  " * (depth + 1)
    if isinstance(value, Spool):
        out.write("[")
        first = True
        for raw in value.raw():
            out.write(("\n" if first else ",\n") + pad + raw.decode())
            first = False
        out.write("]" if first else "\n" + "  " * depth + "]")
    elif isinstance(value, dict) and any(_has_spool(v) for v in value.values()):
        out.write("{")
        for index, (key, item) in enumerate(value.items()):
            out.write(("\n" if index == 0 else ",\n") + pad + json.dumps(str(key)) + ": ")
            _write_json(out, item, depth + 1)
        out.write("\n" + "  " * depth + "}" if value else "}")
    elif isinstance(value, list | tuple) and any(_has_spool(v) for v in value):
        out.write("[")
        for index, item in enumerate(value):
            out.write(("\n" if index == 0 else ",\n") + pad)
            _write_json(out, item, depth + 1)
        out.write("\n" + "  " * depth + "]" if value else "]")
    else:
        text = json.dumps(jsonable(value), ensure_ascii=False, indent=2)
        out.write(text.replace("\n", "\n" + "  " * depth))


def _has_spool(value: Any) -> bool:
    if isinstance(value, Spool):
        return True
    if isinstance(value, dict):
        return any(_has_spool(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_spool(v) for v in value)
    return False


def say(message: str) -> None:
    """A line for the person at the terminal (stderr, so stdout stays data)."""
    err.print(Text(message), highlight=False)


def error(message: str) -> None:
    err.print(Text.assemble(("error: ", "bold red"), message), highlight=False)


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> Table:
    grid = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in columns:
        grid.add_column(column)
    for row in rows:
        grid.add_row(*(_cell(value) for value in row))
    return grid


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ")
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
