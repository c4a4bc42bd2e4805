"""The outbox transport: each message a file under `outbox/`, written atomically.

Email as `outbox/email/<key>.eml` (the full MIME message), SMS as `outbox/sms/<key>.json`.
The embedded default: every feature works without a server, and tests read the files.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from passcli.delivery.base import Outgoing
from passcli.delivery.mime import build_email, email_bytes

SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class OutboxTransport:
    idempotent = True

    def __init__(self, folder: Path, sender: str) -> None:
        self.folder = folder
        self.sender = sender

    def send(self, message: Outgoing) -> str:
        name = SAFE.sub("_", message.key)
        if message.channel == "email":
            email = build_email(message, self.sender)
            path = self.folder / "email" / f"{name}.eml"
            _write_atomically(path, email_bytes(email))
            return str(email["Message-ID"])
        document = {"to": message.to, "body": message.body, "key": message.key}
        path = self.folder / "sms" / f"{name}.json"
        _write_atomically(path, (json.dumps(document, ensure_ascii=False) + "\n").encode())
        return f"outbox:{name}"

    def close(self) -> None:
        return None


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
