"""SMTP delivery with smtplib: one connection per run, reconnecting when dropped.

Replies map to the error tree: 4xx and connection trouble are transient, 5xx permanent.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass

from passcli.delivery.base import Outgoing
from passcli.delivery.mime import compose_email
from passcli.errors import (
    PermanentDeliveryError,
    TransientDeliveryError,
    UncertainDeliveryError,
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
    idempotent = False

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
        """MAIL, RCPT and DATA by hand, to know how far a failure got: a connection lost
        before DATA handed nothing over (reconnect and go on); one lost during DATA may have
        delivered the message, and a second copy is worse than none (`unknown`)."""
        email = compose_email(message, self.config.sender)
        payload = email.data
        for attempt in (1, 2):
            if self._client is None:
                self._client = self._connect()
            client = self._client
            try:
                self._envelope(client, message.to)
            except smtplib.SMTPResponseException as exc:
                raise _by_code(exc.smtp_code, exc.smtp_error) from exc
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                self._client = None
                if attempt == 2:
                    raise TransientDeliveryError(f"SMTP connection dropped: {exc}") from exc
                continue
            try:
                code, reply = client.data(payload)
            except smtplib.SMTPResponseException as exc:  # DATA itself refused: nothing sent
                raise _by_code(exc.smtp_code, exc.smtp_error) from exc
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                self._client = None
                raise UncertainDeliveryError(f"SMTP connection lost during DATA: {exc!r}") from exc
            if code != 250:
                raise _by_code(code, reply)
            return email.message_id
        raise TransientDeliveryError("SMTP connection dropped")  # pragma: no cover

    def _envelope(self, client: smtplib.SMTP, to: str) -> None:
        client.ehlo_or_helo_if_needed()
        for step, accepted in (("mail", (250,)), ("rcpt", (250, 251))):
            if step == "mail":
                code, reply = client.mail(self.config.sender)
            else:
                code, reply = client.rcpt(to)
            if code not in accepted:
                try:
                    client.rset()
                except (smtplib.SMTPException, OSError):
                    self._client = None
                raise smtplib.SMTPResponseException(code, reply)

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
