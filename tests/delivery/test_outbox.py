"""The outbox transport: one file per message, written whole, no temporary files left."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from passcli.delivery.base import Outgoing
from passcli.delivery.outbox import OutboxTransport

NOW = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)


def message(key, channel="email"):
    to = "ann@example.com" if channel == "email" else "+13035550100"
    return Outgoing(channel, to, "Hello", key, NOW, subject="Hi")


def test_threads_writing_the_same_messages_leave_one_file_each_and_no_temporary_folder(
    tmp_path,
):
    box = OutboxTransport(tmp_path / "outbox", "passcli@example.com")
    keys = [f"manual:m:2026-11-22T17:00:00Z-c{n}" for n in range(50)]

    def write_all():
        for key in keys:
            box.send(message(key))
            box.send(message(key, "sms"))

    threads = [threading.Thread(target=write_all) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    box.close()
    emails = sorted(p.name for p in (tmp_path / "outbox" / "email").iterdir())
    texts = sorted(p.name for p in (tmp_path / "outbox" / "sms").iterdir())
    assert len(emails) == len(texts) == 50
    assert emails[0] == "manual_m_2026-11-22T17_00_00Z-c0.eml"
    assert texts[0] == "manual_m_2026-11-22T17_00_00Z-c0.json"
    written = (tmp_path / "outbox" / "email" / emails[0]).read_bytes()
    assert written.startswith(b"Content-Type: text/plain")
    assert written.endswith(b"Hello\r\n")


def test_closing_an_outbox_that_wrote_nothing_is_fine(tmp_path):
    OutboxTransport(tmp_path / "outbox", "passcli@example.com").close()
    assert not (tmp_path / "outbox").exists()
