"""`--html FILE`: one well-formed, self-contained page holding the report's numbers."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

from .test_message_report import followed  # noqa: F401  (the fixture)

VOID = {"meta", "br", "img", "input", "link", "hr", "col", "area", "base", "source", "wbr"}


class Balance(HTMLParser):
    """Checks that every element closes, in order (void elements aside)."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.tags: set[str] = set()
        self.attributes: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes += [value or "" for _, value in attrs]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes += [value or "" for _, value in attrs]

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"unexpected </{tag}> with {self.stack[-3:]} open")
        else:
            self.stack.pop()


def check_page(page: str) -> Balance:
    parser = Balance()
    parser.feed(page)
    parser.close()
    assert parser.problems == []
    assert parser.stack == []
    assert page.startswith("<!DOCTYPE html>")
    # Self-contained: no script, no external stylesheet, font or image, no URL at all.
    assert "script" not in parser.tags
    assert "link" not in parser.tags and "img" not in parser.tags
    assert not re.search(r"https?://", page)
    assert not any(re.match(r"\s*(https?:)?//", value) for value in parser.attributes)
    assert "@import" not in page and "url(" not in page
    # Each chart is well-formed XML on its own.
    for svg in re.findall(r"<svg.*?</svg>", page, re.S):
        ET.fromstring(svg)
    return parser


def test_the_message_page_is_self_contained_and_holds_the_numbers(followed, tmp_path):  # noqa: F811
    path = tmp_path / "report.html"
    result = followed.invoke("report", "message", "start-checking-in", "--html", path)
    assert f"wrote {path}" in result.stderr
    page = path.read_text(encoding="utf-8")
    check_page(page)
    assert "<h1>start-checking-in: Start Checking-In!</h1>" in page
    assert page.count("<svg") == 2  # the funnel and sends per day
    assert "<title>converted: 3</title>" in page
    assert "<title>sent: 7</title>" in page
    assert "<title>audience: 50</title>" in page
    assert "<title>2026-11-22: 7 sms</title>" in page
    assert "<td>42.9%</td>" in page
    assert "<td>no_address 8, not_opted_in 10</td>" in page


def test_text_from_the_project_is_escaped(followed, tmp_path):  # noqa: F811
    messages = followed.dir / "messages.yaml"
    text = messages.read_text(encoding="utf-8")
    hostile = '<script src="https://evil.example/x.js"></script> & "quotes"'
    messages.write_text(
        text.replace("title: Start Checking-In!", f"title: '{hostile}'"), encoding="utf-8"
    )
    path = tmp_path / "report.html"
    followed.invoke("report", "message", "start-checking-in", "--html", path)
    page = path.read_text(encoding="utf-8")
    assert "<script" not in page
    assert "&lt;script src=&quot;https://evil.example/x.js&quot;&gt;" in page
    # The only URL is the escaped one from the data.
    assert re.findall(r"https?://", page) == ["https://"] * page.count("https://")
    unescaped = re.sub(r"&lt;script src=&quot;https://[^&]*&quot;", "", page)
    check_page(unescaped)
