"""Twilio's request signature (`X-Twilio-Signature`), computed and checked.

Twilio signs each webhook request with the account's auth token: HMAC-SHA1 over the full
URL it requested (scheme, host, path and query, as configured in the console) followed by
every POST form parameter, sorted by name, each written as name then value with no
separator; base64 of the digest is the header's value. passcli computes the URL from
PASSCLI_PUBLIC_URL (what Twilio was told), never from the Host header it received, so a
reverse proxy in between changes nothing.

Twilio's own library, the reference here, drops repeated identical pairs and accepts the URL
with and without its default port (Twilio's signers disagree on writing `:443`); so do we.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

DEFAULT_PORTS = {"https": 443, "http": 80}


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The signature Twilio sends for a POST of form `params` to `url`."""
    payload = url + "".join(name + value for name, value in sorted(set(params)))
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


def url_variants(url: str) -> list[str]:
    """`url` as given, then written with its default port if it had none, or without it if
    it had it (`https://a.example/x` and `https://a.example:443/x`)."""
    parts = urlsplit(url)
    default = DEFAULT_PORTS.get(parts.scheme)
    try:
        port = parts.port
    except ValueError:  # not a number: only the URL as given can match
        return [url]
    if default is None or parts.hostname is None or (port is not None and port != default):
        return [url]
    host = parts.netloc.rpartition("@")[2]
    userinfo = parts.netloc[: len(parts.netloc) - len(host)]
    bare = host if port is None else host[: host.rfind(":")]
    other = bare + f":{default}" if port is None else bare
    return [url, urlunsplit(parts._replace(netloc=userinfo + other))]


def valid_twilio_request(
    auth_token: str, url: str, params: Iterable[tuple[str, str]], signature: str | None
) -> bool:
    """Whether a webhook request to `url` carrying `params` is signed by Twilio: the URL
    with or without its default port (see the module's docstring)."""
    pairs = list(params)
    return any(
        valid_twilio_signature(auth_token, variant, pairs, signature)
        for variant in url_variants(url)
    )
