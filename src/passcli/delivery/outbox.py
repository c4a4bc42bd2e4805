"""The outbox transport: each message a file under `outbox/`, written atomically.

Email as `outbox/email/<key>.eml` (the full MIME message), SMS as `outbox/sms/<key>.json`.
The embedded default: every feature works without a server, and tests read the files.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from pathlib import Path

from passcli.delivery.base import Outgoing
from passcli.delivery.mime import compose_email

SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class OutboxTransport:
    idempotent = True

    def __init__(self, folder: Path, sender: str) -> None:
        self.folder = folder
        self.sender = sender

    def send(self, message: Outgoing) -> str:
        name = SAFE.sub("_", message.key)
        if message.channel == "email":
            email = compose_email(message, self.sender)
            _write_atomically(os.path.join(self.folder, "email"), f"{name}.eml", email.data)
            return email.message_id
        document = {"to": message.to, "body": message.body, "key": message.key}
        data = (json.dumps(document, ensure_ascii=False) + "\n").encode()
        _write_atomically(os.path.join(self.folder, "sms"), f"{name}.json", data)
        return f"outbox:{name}"

    def close(self) -> None:
        return None


def _write_atomically(folder: str, name: str, data: bytes) -> None:
    """Write a temporary file beside `folder/name` and rename it over: a reader never sees
    half a message. The temporary name is unique to this process and thread, so workers that
    write the same message at once (it is idempotent) cannot clobber each other's file.
    (Plain string paths: pathlib's parsing was a tenth of an outbox send.)"""
    path = os.path.join(folder, name)
    temp = os.path.join(folder, f".tmp-{os.getpid()}-{threading.get_ident()}-{name}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        fd = os.open(temp, flags, 0o600)
    except FileNotFoundError:
        os.makedirs(folder, exist_ok=True)
        fd = os.open(temp, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
