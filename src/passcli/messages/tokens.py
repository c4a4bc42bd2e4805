"""Signed unsubscribe tokens.

A token is `v1.<payload>.<signature>`: the payload is base64url JSON naming the customer, the
channel and the send key of the delivery it came from (so reports can attribute the
unsubscribe); the signature is HMAC-SHA256 over `v1.<payload>` with PASSCLI_SECRET_KEY,
compared in constant time. A preview's token carries no send key and is valid too. A test
send's token (`passcli message test`) carries a send key starting `test:`: it is genuine, but
applying it changes nothing (the real customer it was rendered for did not receive it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

from passcli.errors import UsageError

VERSION = "v1"
TEST_SEND_PREFIX = "test:"  # the send keys of `passcli message test`


@dataclass(frozen=True)
class Claims:
    customer_id: str
    channel: str
    send_key: str | None = None

    @property
    def from_test_send(self) -> bool:
        """The token came from a test send to the seed list: it must not unsubscribe the
        customer the message was rendered for."""
        return self.send_key is not None and self.send_key.startswith(TEST_SEND_PREFIX)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: str, signed: str) -> str:
    return _b64(hmac.new(key.encode(), signed.encode(), hashlib.sha256).digest())


def make_token(key: str, claims: Claims) -> str:
    payload = {"c": claims.customer_id, "ch": claims.channel}
    if claims.send_key is not None:
        payload["k"] = claims.send_key
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    signed = f"{VERSION}.{body}"
    return f"{signed}.{_signature(key, signed)}"


def unsubscribe_link(base_url: str, token: str) -> str:
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}{urlencode({'token': token})}"


def token_from(text: str) -> str:
    """The token itself, given the token or a whole unsubscribe link."""
    text = text.strip()
    if "token=" in text:
        values = parse_qs(urlsplit(text).query).get("token")
        if values:
            return values[0]
    return text


def verify_token(key: str, token: str) -> Claims:
    """The claims of a genuine token; UsageError for a forged, altered or malformed one."""
    parts = token_from(token).split(".")
    if len(parts) != 3 or parts[0] != VERSION:
        raise UsageError("not a passcli unsubscribe token")
    signed = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(_signature(key, signed), parts[2]):
        raise UsageError("the unsubscribe token's signature does not match: refused")
    try:
        payload = json.loads(_unb64(parts[1]))
        claims = Claims(str(payload["c"]), str(payload["ch"]), payload.get("k"))
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise UsageError("the unsubscribe token is malformed") from None
    if claims.channel not in ("email", "sms"):
        raise UsageError("the unsubscribe token names no channel passcli knows")
    return claims
