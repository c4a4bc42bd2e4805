"""SMTP delivery with smtplib: one connection per run, reconnecting when dropped.

Replies map to the error tree: 4xx and connection trouble are transient, 5xx permanent.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass

from passcli.delivery.base import Outgoing
from passcli.delivery.mime import build_email
from passcli.errors import (
    PermanentDeliveryError,
    TransientDeliveryError,
)


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    security: str = "none"  # none | starttls | tls
    user: str | None = None
    password: str | None = None
    timeout: float = 30.0


class SmtpTransport:
    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._client: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        try:
            client: smtplib.SMTP
            if c.security == "tls":
                client = smtplib.SMTP_SSL(
                    c.host, c.port, timeout=c.timeout, context=ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
                if c.security == "starttls":
                    client.starttls(context=ssl.create_default_context())
            if c.user:
                client.login(c.user, c.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentDeliveryError(f"SMTP login refused: {exc.smtp_code}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientDeliveryError(
                f"cannot connect to SMTP {c.host}:{c.port}: {exc}"
            ) from exc
        return client

    def send(self, message: Outgoing) -> str:
        email = build_email(message, self.config.sender)
        for attempt in (1, 2):
            if self._client is None:
                self._client = self._connect()
            try:
                self._client.send_message(email)
                return str(email["Message-ID"])
            except smtplib.SMTPServerDisconnected as exc:
                self._client = None  # dropped: reconnect once, then let the caller retry
                if attempt == 2:
                    raise TransientDeliveryError(f"SMTP connection dropped: {exc}") from exc
            except smtplib.SMTPRecipientsRefused as exc:
                code, reply = next(iter(exc.recipients.values()))
                raise _by_code(code, reply) from exc
            except smtplib.SMTPResponseException as exc:
                raise _by_code(exc.smtp_code, exc.smtp_error) from exc
            except (TimeoutError, OSError) as exc:
                self._client = None
                raise TransientDeliveryError(f"SMTP connection failed: {exc}") from exc
        raise TransientDeliveryError("SMTP connection dropped")  # pragma: no cover

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self._client = None


def _by_code(code: int, reply: bytes | str) -> Exception:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
    if 400 <= code < 500:
        return TransientDeliveryError(f"SMTP {code}: {text}")
    return PermanentDeliveryError(f"SMTP {code}: {text}")
