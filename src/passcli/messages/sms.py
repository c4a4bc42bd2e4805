"""How many SMS parts a text takes: GSM-7 (160 characters, 153 per part of a longer
message) or, when any character is outside GSM-7, UCS-2 (70, or 67 per part)."""

from __future__ import annotations

import math
from dataclasses import dataclass

# GSM 03.38 basic character set, and the extension table (each costs two septets).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SmsSize:
    encoding: str  # "GSM-7" or "UCS-2"
    characters: int  # what the user sees
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    parts: int

    def __str__(self) -> str:
        part = "part" if self.parts == 1 else "parts"
        return f"{self.characters} characters, {self.parts} SMS {part} ({self.encoding})"


def sms_size(text: str) -> SmsSize:
    if all(ch in GSM_BASIC or ch in GSM_EXTENDED for ch in text):
        units = len(text) + sum(1 for ch in text if ch in GSM_EXTENDED)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    parts = 1 if units <= single else math.ceil(units / multi)
    return SmsSize(encoding, len(text), units, parts if text else 0)
