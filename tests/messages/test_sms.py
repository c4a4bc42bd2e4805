"""SMS sizes: GSM-7 160 / 153 per part, extension characters count double, UCS-2 70 / 67."""

from __future__ import annotations

import pytest

from passcli.messages.sms import sms_size


@pytest.mark.parametrize(
    ("text", "encoding", "characters", "units", "parts"),
    [
        ("", "GSM-7", 0, 0, 0),
        ("a" * 160, "GSM-7", 160, 160, 1),
        ("a" * 161, "GSM-7", 161, 161, 2),
        ("a" * 306, "GSM-7", 306, 306, 2),
        ("a" * 307, "GSM-7", 307, 307, 3),
        # Every basic-table character is one septet, accented ones included.
        ("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà", "GSM-7", 42, 42, 1),
        # Extension-table characters take two septets each.
        ("€" * 80, "GSM-7", 80, 160, 1),
        ("€" * 81, "GSM-7", 81, 162, 2),
        ("a" * 159 + "[", "GSM-7", 160, 161, 2),
        ("^{}\\[~]|€", "GSM-7", 9, 18, 1),
        # One character outside GSM-7 switches the whole text to UCS-2.
        ("a" * 69 + "ç", "UCS-2", 70, 70, 1),
        ("a" * 70 + "ç", "UCS-2", 71, 71, 2),
        ("a" * 133 + "ç", "UCS-2", 134, 134, 2),
        ("a" * 134 + "ç", "UCS-2", 135, 135, 3),
        # An emoji is two UTF-16 code units.
        ("a" * 67 + "😀", "UCS-2", 68, 69, 1),
        ("a" * 68 + "😀", "UCS-2", 69, 70, 1),
        ("a" * 69 + "😀", "UCS-2", 70, 71, 2),
        ("😀" * 35, "UCS-2", 35, 70, 1),
    ],
)
def test_sms_size(text, encoding, characters, units, parts):
    size = sms_size(text)
    assert (size.encoding, size.characters, size.units, size.parts) == (
        encoding,
        characters,
        units,
        parts,
    )


def test_an_emoji_turns_a_160_character_gsm_text_into_three_ucs2_parts():
    assert sms_size("a" * 160).parts == 1
    emoji = sms_size("a" * 159 + "🎉")
    assert (emoji.encoding, emoji.parts) == ("UCS-2", 3)  # 161 units / 67


def test_sms_size_reads_as_a_sentence():
    assert str(sms_size("Hello")) == "5 characters, 1 SMS part (GSM-7)"
    assert str(sms_size("a" * 161)) == "161 characters, 2 SMS parts (GSM-7)"
