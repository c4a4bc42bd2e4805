"""Choosing transports from settings, and calling them with retries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from passcli.delivery.base import Outgoing, Transport
from passcli.errors import TransientDeliveryError, UsageError
from passcli.settings import Settings

if TYPE_CHECKING:
    from passcli.delivery.ratelimit import RateLimits

# Tries within one run for a transient error, and the waits between them (seconds).
BACKOFF = (0.5, 2.0)
MAX_RETRY_AFTER = 30.0

Sleep = Callable[[float], None]


def transport_name(settings: Settings, channel: str) -> str:
    """What PASSCLI_EMAIL_TRANSPORT / PASSCLI_SMS_TRANSPORT say for `channel`."""
    return settings.email_transport if channel == "email" else settings.sms_transport


def make_transport(settings: Settings, channel: str) -> Transport:
    """The transport PASSCLI_EMAIL_TRANSPORT / PASSCLI_SMS_TRANSPORT names."""
    name = transport_name(settings, channel)
    if name == "outbox":
        from passcli.delivery.outbox import OutboxTransport

        return OutboxTransport(settings.project_dir / "outbox", settings.email_from)
    if name == "console":
        from passcli.delivery.console import ConsoleTransport

        return ConsoleTransport()
    if name == "smtp":
        from passcli.delivery.smtp import SmtpConfig, SmtpTransport

        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        return SmtpTransport(
            SmtpConfig(
                host=settings.smtp_host,
                port=settings.smtp_port,
                sender=settings.email_from,
                security=settings.smtp_security,
                user=settings.smtp_user,
                password=password,
            )
        )
    from passcli.delivery.twilio import TwilioConfig, TwilioTransport

    if not (settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from):
        raise UsageError(
            "the twilio transport needs PASSCLI_TWILIO_ACCOUNT_SID, "
            "PASSCLI_TWILIO_AUTH_TOKEN and PASSCLI_TWILIO_FROM"
        )
    callback = None
    if settings.public_url:
        callback = settings.public_url.rstrip("/") + "/webhooks/twilio/status"
    return TwilioTransport(
        TwilioConfig(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token.get_secret_value(),
            sender=settings.twilio_from,
            api_base=settings.twilio_api_base,
            status_callback=callback,
        )
    )


@dataclass
class Transports:
    """One transport per channel, made on first use, closed at the end of a run. `limits`:
    the rate limits its factory applies, which worker processes apply too."""

    factory: Callable[[str], Transport]
    made: dict[str, Transport] = field(default_factory=dict)
    limits: RateLimits | None = None

    @classmethod
    def from_settings(cls, settings: Settings, limits: RateLimits | None = None) -> Transports:
        """The transports the settings name; the smtp and twilio ones paced by `limits`
        (policy.yaml's rate limits) when given."""
        if limits is None:
            return cls(lambda channel: make_transport(settings, channel))

        def make(channel: str) -> Transport:
            transport = make_transport(settings, channel)
            return limits.wrap(channel, transport_name(settings, channel), transport)

        return cls(make, limits=limits)

    @classmethod
    def fixed(cls, email: Transport, sms: Transport) -> Transports:
        return cls(lambda channel: email if channel == "email" else sms)

    def get(self, channel: str) -> Transport:
        if channel not in self.made:
            self.made[channel] = self.factory(channel)
        return self.made[channel]

    def close(self) -> None:
        for transport in self.made.values():
            transport.close()
        self.made.clear()


def send_with_retries(transport: Transport, message: Outgoing, sleep: Sleep) -> str:
    """Send, retrying transient errors with backoff (and Twilio's Retry-After); permanent
    errors and the last transient one propagate."""
    for wait in (*BACKOFF, None):
        try:
            return transport.send(message)
        except TransientDeliveryError as exc:
            if wait is None:
                raise
            retry_after = getattr(exc, "retry_after", None)
            sleep(min(MAX_RETRY_AFTER, retry_after) if retry_after else wait)
    raise AssertionError("unreachable")  # pragma: no cover
