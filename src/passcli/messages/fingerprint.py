"""A short, stable hash of a message's definition, kept with each occurrence and delivery so
`passcli log` can tell which version of a message was sent."""

from __future__ import annotations

import hashlib

import orjson

from passcli.messages.spec import MessageSpec


def fingerprint(spec: MessageSpec) -> str:
    canonical = orjson.dumps(
        spec.model_dump(mode="json", by_alias=True), option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(canonical).hexdigest()[:12]
