"""The inbound SMS keyword rules of SPEC §8, as a pure function of the text received.

A message is a keyword when its whole text, ignoring case and surrounding space, is one of
the words below or a group's join keyword (CTIA's and Twilio's standard opt-out, opt-in and
help words). Anything else is not acted on: it is stored as an event, no reply is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

STOP_WORDS = ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT")
START_WORDS = ("START", "YES", "UNSTOP")
HELP_WORDS = ("HELP", "INFO")
RESERVED = frozenset(STOP_WORDS + START_WORDS + HELP_WORDS)

Action = Literal["stop", "start", "help", "join", "none"]


@dataclass(frozen=True)
class Keyword:
    action: Action
    word: str  # the keyword matched, upper case; "" when none matched
    group: str | None = None  # the group a join keyword joins


def classify(body: str, join_keywords: dict[str, str]) -> Keyword:
    """What the text `body` asks for. `join_keywords` maps each join keyword (upper case) to
    its group."""
    word = body.strip().upper()
    if word in STOP_WORDS:
        return Keyword("stop", word)
    if word in START_WORDS:
        return Keyword("start", word)
    if word in HELP_WORDS:
        return Keyword("help", word)
    group = join_keywords.get(word)
    if group is not None:
        return Keyword("join", word, group)
    return Keyword("none", "")
