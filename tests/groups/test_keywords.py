"""The inbound SMS keyword table of SPEC §8, as `classify` reads a text.

A text is a keyword when its whole body, ignoring case and surrounding space, is one of the
words below or a group's join keyword; anything else (a sentence, punctuation) is not.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passcli.groups.keywords import (
    HELP_WORDS,
    RESERVED,
    START_WORDS,
    STOP_WORDS,
    Keyword,
    classify,
)

JOIN = {"LOYALTY": "loyalty", "CLUB": "club", "VIP2026": "vip-club"}

# SPEC §8, written out: the table is the contract, not the module's constants.
TABLE = {
    **dict.fromkeys(("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"), "stop"),
    **dict.fromkeys(("START", "YES", "UNSTOP"), "start"),
    **dict.fromkeys(("HELP", "INFO"), "help"),
}


def test_the_module_words_are_exactly_the_spec_table():
    module = {
        **dict.fromkeys(STOP_WORDS, "stop"),
        **dict.fromkeys(START_WORDS, "start"),
        **dict.fromkeys(HELP_WORDS, "help"),
    }
    assert module == TABLE
    assert frozenset(TABLE) == RESERVED


def variants(word: str) -> list[str]:
    """The same word as people type it: cases, surrounding spaces, tabs and line breaks."""
    lower, title = word.lower(), word.title()
    mixed = "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(word))
    return [
        word,
        lower,
        title,
        mixed,
        f" {lower}\n",
        f"\t{word} ",
        f"\r\n{title}\r\n",
        f"  {mixed}  ",
        f"\u00a0{word}\u00a0",  # a no-break space, as some phones send
    ]


@pytest.mark.parametrize("word", sorted(TABLE))
def test_every_word_of_every_family_in_every_case_and_spacing(word):
    for text in variants(word):
        assert classify(text, JOIN) == Keyword(TABLE[word], word), repr(text)


@pytest.mark.parametrize("text", [" stop\n", "Stop", "sToP", "STOP", "\tstop\t"])
def test_stop_variants_of_the_brief(text):
    assert classify(text, {}) == Keyword("stop", "STOP")


@pytest.mark.parametrize("word, group", sorted(JOIN.items()))
def test_join_keywords_in_any_case_name_their_group(word, group):
    for text in variants(word):
        assert classify(text, JOIN) == Keyword("join", word, group), repr(text)


@pytest.mark.parametrize(
    "text",
    [
        "stop it",
        "STOP.",
        "STOP!",
        "stop please",
        "please stop",
        "S T O P",
        "STOPP",
        "sto",
        "st op",
        "'STOP'",
        "HELP?",
        "yes!",
        "yes please",
        "info@example.com",
        "loyalty club",
        "LOYALTY!",
        "#LOYALTY",
        "LOYALTY2",
        "",
        "   ",
        "\n",
        "hello there",
        "12345",
        "😀",
    ],
)
def test_sentences_punctuation_and_unknown_words_are_not_keywords(text):
    assert classify(text, JOIN) == Keyword("none", "")


def test_a_join_keyword_of_no_group_in_this_project_is_not_a_keyword():
    assert classify("LOYALTY", {}) == Keyword("none", "")
    assert classify("club", {"LOYALTY": "loyalty"}) == Keyword("none", "")


def test_the_standard_words_win_over_a_join_keyword_of_the_same_spelling():
    # Validation refuses such a join keyword; classify still never lets it hide STOP.
    assert classify("stop", {"STOP": "loyalty"}) == Keyword("stop", "STOP")
    assert classify("help", {"HELP": "loyalty"}) == Keyword("help", "HELP")


# -- properties ---------------------------------------------------------------------------

WHITESPACE = st.text(alphabet=" \t\r\n\u00a0", max_size=4)
KEYWORDS = sorted(TABLE) + sorted(JOIN)


def expected(word: str) -> Keyword:
    if word in TABLE:
        return Keyword(TABLE[word], word)  # type: ignore[arg-type]
    return Keyword("join", word, JOIN[word])


@given(
    word=st.sampled_from(KEYWORDS),
    upper=st.lists(st.booleans(), min_size=11, max_size=11),
    before=WHITESPACE,
    after=WHITESPACE,
)
def test_any_casing_and_surrounding_space_of_a_keyword_is_that_keyword(word, upper, before, after):
    cased = "".join(c.upper() if up else c.lower() for c, up in zip(word, upper, strict=False))
    assert classify(before + cased + after, JOIN) == expected(word)


# ASCII letters, digits, spaces and punctuation: what a person types in a text.
TYPED = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.sampled_from("\t\n"),
    max_size=14,
)


@given(text=TYPED)
def test_a_text_is_a_keyword_exactly_when_its_trimmed_upper_case_is_one(text):
    word = text.strip().upper()
    if word in TABLE or word in JOIN:
        assert classify(text, JOIN) == expected(word)
    else:
        assert classify(text, JOIN) == Keyword("none", "")


@given(word=st.sampled_from(KEYWORDS), extra=st.text(min_size=1, max_size=6), before=st.booleans())
def test_a_keyword_with_anything_more_than_space_around_it_is_not_a_keyword(word, extra, before):
    text = extra + word if before else word + extra
    if text.strip().upper() in TABLE or text.strip().upper() in JOIN:
        return  # the extra was only space, or made another keyword ("STOP" + "ALL")
    assert classify(text, JOIN).action == "none"
