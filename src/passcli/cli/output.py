"""Everything the CLI prints goes through here: stdout is data, stderr is talk."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

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
    """One JSON document on stdout, nothing else there."""
    sys.stdout.write(json.dumps(jsonable(document), ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


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
