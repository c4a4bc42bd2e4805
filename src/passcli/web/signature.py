"""Twilio's request signature (`X-Twilio-Signature`), computed and checked.

Twilio signs each webhook request with the account's auth token: HMAC-SHA1 over the full
URL it requested (scheme, host, path and query, as configured in the console) followed by
every POST form parameter, sorted by name, each written as name then value with no
separator; base64 of the digest is the header's value. passcli computes the URL from
PASSCLI_PUBLIC_URL (what Twilio was told), never from the Host header it received, so a
reverse proxy in between changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The signature Twilio sends for a POST of form `params` to `url`."""
    payload = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def valid_twilio_signature(
    auth_token: str, url: str, params: Iterable[tuple[str, str]], signature: str | None
) -> bool:
    """Whether `signature` is the one Twilio would send, compared in constant time."""
    if not signature or not auth_token:
        return False
    expected = twilio_signature(auth_token, url, params)
    return hmac.compare_digest(expected.encode(), signature.encode())
