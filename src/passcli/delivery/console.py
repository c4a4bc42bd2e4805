"""The console transport: messages printed to stderr (stdout stays data), for trying things."""

from __future__ import annotations

import sys
from typing import TextIO

from passcli.delivery.base import Outgoing


class ConsoleTransport:
    idempotent = False

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def send(self, message: Outgoing) -> str:
        out = self.stream or sys.stderr
        head = f"--- {message.channel} to {message.to}"
        if message.subject:
            head += f": {message.subject}"
        out.write(f"{head}\n{message.body}\n")
        out.flush()
        return f"console:{message.key}"

    def close(self) -> None:
        return None
