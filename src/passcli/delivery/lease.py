"""A run's lease: a `runs` row renewed every few seconds by the wall clock while it works.

`sending` rows of a run that stopped renewing become `unknown` (see ledger.expire_stale),
and its occurrences may be taken over by another run.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid

from sqlalchemy import Engine, update

from passcli.delivery.ledger import HEARTBEAT_SECONDS, WallClock
from passcli.errors import StoreError
from passcli.store.engine import write_transaction
from passcli.store.schema import runs


class Lease:
    """A `runs` row renewed every few seconds by the wall clock while the run works."""

    def __init__(
        self,
        engine: Engine,
        command: str,
        wall_clock: WallClock,
        interval: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.engine = engine
        self.command = command
        self.wall_clock = wall_clock
        self.interval = interval
        self.id = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Lease:
        now = self.wall_clock()
        with write_transaction(self.engine) as conn:
            conn.execute(
                runs.insert().values(
                    id=self.id,
                    command=self.command,
                    started_at=now,
                    heartbeat_at=now,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                )
            )
        self._thread = threading.Thread(target=self._beat, name="passcli-lease", daemon=True)
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                with write_transaction(self.engine) as conn:
                    conn.execute(
                        update(runs)
                        .where(runs.c.id == self.id)
                        .values(heartbeat_at=self.wall_clock())
                    )
            except StoreError:
                continue  # a busy store: try again at the next beat

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with write_transaction(self.engine) as conn:
            conn.execute(
                update(runs).where(runs.c.id == self.id).values(finished_at=self.wall_clock())
            )
