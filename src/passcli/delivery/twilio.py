"""SMS through Twilio's Messages API with httpx (base URL settable for tests).

POST {base}/2010-04-01/Accounts/{sid}/Messages.json, form-encoded To/From/Body, basic auth.
201 gives the message SID; 429 and 5xx are transient (Retry-After is honoured by the
caller's backoff); other 4xx are permanent, with Twilio's error code (21610: the recipient
replied STOP to this sender, so they are marked unsubscribed by the dispatcher).
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from passcli.delivery.base import Outgoing
from passcli.errors import PermanentDeliveryError, TransientDeliveryError, UncertainDeliveryError


class TwilioError(PermanentDeliveryError):
    def __init__(self, message: str, code: int | None) -> None:
        super().__init__(message)
        self.code = code


class TwilioRetry(TransientDeliveryError):
    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class TwilioConfig:
    account_sid: str
    auth_token: str
    sender: str
    api_base: str = "https://api.twilio.com"
    status_callback: str | None = None
    timeout: float = 30.0


class TwilioTransport:
    idempotent = False

    def __init__(self, config: TwilioConfig, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self.client = httpx.Client(
            base_url=config.api_base,
            auth=(config.account_sid, config.auth_token),
            timeout=config.timeout,
            transport=transport,
        )

    def send(self, message: Outgoing) -> str:
        form = {"To": message.to, "From": self.config.sender, "Body": message.body}
        if self.config.status_callback:
            form["StatusCallback"] = self.config.status_callback
        path = f"/2010-04-01/Accounts/{self.config.account_sid}/Messages.json"
        try:
            response = self.client.post(path, data=form)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientDeliveryError(f"Twilio unreachable: {exc}") from exc
        except httpx.HTTPError as exc:
            # The request may have reached Twilio (a read timeout, a dropped response): a
            # retry could text the customer twice, which is worse than not at all.
            raise UncertainDeliveryError(f"no answer from Twilio: {exc!r}") from exc
        if response.status_code in (200, 201):
            sid = _json(response).get("sid")
            return str(sid) if sid else ""
        detail = _json(response)
        text = f"Twilio {response.status_code}: {detail.get('message', response.reason_phrase)}"
        if response.status_code == 429 or response.status_code >= 500:
            raise TwilioRetry(text, _retry_after(response))
        code = detail.get("code")
        raise TwilioError(
            text, int(code) if isinstance(code, int | str) and str(code).isdigit() else None
        )

    def close(self) -> None:
        self.client.close()


def _json(response: httpx.Response) -> dict[str, object]:
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
