"""An append-only list of small JSON documents kept in a temporary file.

A send's `recipients` (SPEC §5 lists every one of them) would otherwise grow the process
with the audience; spooled, memory stays flat and the CLI streams them into its output.
"""

from __future__ import annotations

import tempfile
import weakref
from collections.abc import Iterator
from typing import Any

import orjson


class Spool:
    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile("w+b")
        self._count = 0
        # Closed with the Spool, without an "unclosed file" warning at garbage collection.
        self._closer = weakref.finalize(self, self._file.close)

    def append(self, item: dict[str, Any]) -> None:
        self._file.write(orjson.dumps(item) + b"\n")
        self._count += 1

    def __len__(self) -> int:
        return self._count

    def raw(self) -> Iterator[bytes]:
        """Each item as its JSON bytes, in order."""
        self._file.flush()
        self._file.seek(0)
        for line in self._file:
            yield line.rstrip(b"\n")
        self._file.seek(0, 2)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for line in self.raw():
            yield orjson.loads(line)

    def head(self, count: int) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = []
        for item in self:
            if len(result) == count:
                break
            result.append(item)
        self._file.seek(0, 2)
        return result

    def close(self) -> None:
        self._closer()

    def append_raw(self, line: bytes) -> None:
        """Append one item already encoded as JSON (one line)."""
        self._file.write(line + b"\n")
        self._count += 1

    def extend(self, other: Spool) -> None:
        """Append every item of another spool (as bytes: nothing is parsed)."""
        for line in other.raw():
            self.append_raw(line)
