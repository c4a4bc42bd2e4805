"""Files of addresses for `passcli group add --file`: a plain list, one a line, or a CSV.

A CSV whose header names an `email` or `phone` column (a `segment export`, a customers
file) gives each row's email, or its phone when the email is blank; any other file gives
the first field of each line, skipping blank lines, lines starting with `#`, and a lone
`email` or `phone` header. Every address is checked here, so that a bad one is reported
as FILE:LINE before anything is written.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from passcli.errors import UsageError
from passcli.groups.members import normalise_address

HEADER_WORDS = ("email", "phone")


def read_addresses(path: Path, region: str) -> list[str]:
    """The addresses of the file, normalised (emails lower case, phones E.164)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text))
    found: list[str] = []
    columns: list[int] | None = None  # email then phone, when the header names them
    for row in reader:
        line = reader.line_num
        cells = [cell.strip() for cell in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if not found and columns is None and _is_header(cells):
            names = [cell.lower() for cell in cells]
            columns = [names.index(word) for word in HEADER_WORDS if word in names]
            continue
        if columns is None:
            values = [cells[0]]
        else:
            values = [cells[i] for i in columns if i < len(cells) and cells[i]]
            if not values:
                continue  # a row with neither an email nor a phone
        try:
            found.append(normalise_address(values[0], region))
        except UsageError as exc:
            raise UsageError(f"{path}:{line}: {exc}") from None
    return found


def _is_header(cells: list[str]) -> bool:
    return any(cell.lower() in HEADER_WORDS for cell in cells)
