"""An external merge sort of text lines, so output files come out in time order with flat memory.

Histories are generated customer by customer (that keeps them coherent: check-ins fall inside
the pass they use), but the files must be in time order. Each line starts with its fixed-width
ISO-8601 `Z` timestamp, so plain string order is time order. Lines collect in a bounded buffer;
a full buffer is sorted and spilled to a run file; the runs are merged at the end.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

RUN_LINES = 250_000
"""Lines held in memory before a run is spilled: about 40 MB of short lines."""


class LineSorter:
    """Collects lines (each ending in a newline) and yields them back in sorted order.

    Callers append to `lines` directly (a method call per line costs more than the append) and
    call `spill_if_full()` now and then.
    """

    def __init__(self, work_dir: Path, stem: str, run_lines: int | None = None) -> None:
        self.lines: list[str] = []
        self._work_dir = work_dir
        self._stem = stem
        self._run_lines = RUN_LINES if run_lines is None else run_lines
        self._runs: list[Path] = []

    def spill_if_full(self) -> None:
        """Write the buffer out as a sorted run once it holds `run_lines` lines."""
        if len(self.lines) >= self._run_lines:
            self._spill()

    def _spill(self) -> None:
        self.lines.sort()
        path = self._work_dir / f"{self._stem}-{len(self._runs):04d}.run"
        with path.open("w", encoding="utf-8", newline="\n") as run:
            run.writelines(self.lines)
        self._runs.append(path)
        self.lines = []

    def sorted_lines(self) -> Iterator[str]:
        """Every line added, in string order; run files are removed once merged."""
        if not self._runs:
            self.lines.sort()
            lines, self.lines = self.lines, []
            yield from lines
            return
        if self.lines:
            self._spill()
        with ExitStack() as stack:
            files = [
                stack.enter_context(path.open(encoding="utf-8", newline="\n"))
                for path in self._runs
            ]
            yield from heapq.merge(*files)
        for path in self._runs:
            path.unlink()
        self._runs = []
