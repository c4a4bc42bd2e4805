"""`conversion:` in messages.yaml: parsed, validated with positions, and not part of the
message's fingerprint (it changes no send)."""

from __future__ import annotations

import textwrap

from passcli.messages.fingerprint import fingerprint
from passcli.project import load_project


def load(tmp_path, conversion: str):
    body = textwrap.dedent(
        """\
        messages:
          reminder:
            segments: [expires-soon]
            channel: sms
            body: Hi
        """
    ) + textwrap.indent(textwrap.dedent(conversion), "    ")
    (tmp_path / "messages.yaml").write_text(body, encoding="utf-8")
    (tmp_path / "segments.yaml").write_text(
        "segments:\n  expires-soon:\n    conditions: [{attribute: {name: id, op: exists}}]\n",
        encoding="utf-8",
    )
    project, problems = load_project(tmp_path)
    return project, [str(p) for p in problems]


def test_a_conversion_is_parsed_with_its_filters_and_window(tmp_path):
    project, problems = load(
        tmp_path,
        """\
        conversion:
          event: {name: Order Completed, where: [{property: revenue, op: greater_than, value: 5}]}
          within: {days: 3, hours: 12}
        """,
    )
    assert problems == []
    conversion = project.messages["reminder"].conversion
    assert conversion is not None
    assert conversion.event.name == "Order Completed"
    assert conversion.event.as_event().where[0].property == "revenue"
    assert conversion.within.total == 3 * 86400 + 12 * 3600


def test_conversion_problems_are_located_with_a_did_you_mean(tmp_path):
    _, problems = load(
        tmp_path,
        """\
        conversion:
          event: {name: Order Completed}
          within: {dys: 3}
        """,
    )
    assert problems == ["messages.yaml:8:16: unknown key 'dys' (did you mean \"days\"?)"]


def test_a_conversion_needs_an_event_name_and_a_positive_window(tmp_path):
    _, problems = load(
        tmp_path,
        """\
        conversion:
          event: {where: []}
          within: {days: 0}
        """,
    )
    assert problems == [
        "messages.yaml:3:5: message needs conversion.event.name",
        "messages.yaml:8:15: conversion.within: a duration must be positive",
    ]


def test_a_conversion_does_not_change_the_fingerprint(tmp_path):
    with_it, _ = load(tmp_path, "conversion: {event: {name: X}, within: {days: 1}}\n")
    without, _ = load(tmp_path, "")
    assert fingerprint(with_it.messages["reminder"]) == fingerprint(without.messages["reminder"])
