"""messages.yaml validation: every problem at once, each at its exact FILE:LINE:COLUMN."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from passcli.cli.app import app

from .conftest import diagnostics, write_files


def problems_of(tmp_path: Path, messages: str, **kwargs) -> list[str]:
    return diagnostics(write_files(tmp_path / "p", messages), **kwargs)


def test_the_starter_messages_file_is_valid(project):
    assert diagnostics(project, known_items={"explorer-pass", "prize-tshirt"}) == []


def test_an_unknown_segment_is_located_at_its_name_with_a_did_you_mean(tmp_path):
    found = problems_of(
        tmp_path,
        """\
        messages:
          reminder:
            segments: [pass-participants, expires-son]
            exclude:
              - new-signup
            channel: sms
            body: Hi
        """,
    )
    assert found == [
        "messages.yaml:3:35: unknown segment 'expires-son' (did you mean \"expires-soon\"?)",
        "messages.yaml:5:9: unknown segment 'new-signup' (did you mean \"new-signups\"?)",
    ]


def test_a_segment_name_nothing_resembles_gets_no_suggestion(tmp_path):
    found = problems_of(
        tmp_path,
        """\
        messages:
          reminder:
            segments: zzz
            channel: sms
            body: Hi
        """,
    )
    assert found == ["messages.yaml:3:15: unknown segment 'zzz'"]


@pytest.mark.parametrize("channel", ["email", "any"])
def test_email_and_any_messages_need_a_subject(tmp_path, channel):
    found = problems_of(
        tmp_path,
        f"""\
        messages:
          news:
            segments: [pass-participants]
            channel: {channel}
            body: Hi
        """,
    )
    assert found == [f"messages.yaml:3:5: a message sent by {channel} needs a subject"]


def test_an_sms_message_needs_no_subject(tmp_path):
    found = problems_of(
        tmp_path,
        """\
        messages:
          news:
            segments: [pass-participants]
            channel: sms
            body: Hi
        """,
    )
    assert found == []


BLOCK_WITH_SYNTAX_ERROR = """\
messages:
  news:
    segments: [pass-participants]
    channel: email
    subject: News
    body: |
      Hello {{ customerFirstName }},

      {% if customerId %}
      Your pass is waiting.
      {% endfor %}
      Bye
"""


def test_a_template_syntax_error_is_located_on_its_line_inside_a_block(tmp_path):
    found = problems_of(tmp_path, BLOCK_WITH_SYNTAX_ERROR)
    assert len(found) == 1
    # `{% endfor %}` is the 6th line of the block, which starts after `body: |` (line 6).
    assert found[0].startswith("messages.yaml:11:")
    assert "body: template syntax error: Encountered unknown tag 'endfor'" in found[0]


def test_a_template_problem_inside_a_block_points_at_the_start_of_its_text(tmp_path):
    found = problems_of(tmp_path, BLOCK_WITH_SYNTAX_ERROR)
    assert found[0].startswith("messages.yaml:11:7: ")


def test_a_syntax_error_in_a_one_line_template_is_located_at_the_value(tmp_path):
    found = problems_of(
        tmp_path,
        """\
        messages:
          news:
            segments: [pass-participants]
            channel: sms
            body: "Hi {{ customerFirstName }"
        """,
    )
    assert found == [
        "messages.yaml:5:11: body: template syntax error: unexpected '}'",
    ]


def test_an_unknown_variable_is_located_on_its_line_with_a_did_you_mean(tmp_path):
    found = problems_of(
        tmp_path,
        """\
        messages:
          news:
            segments: [pass-participants]
            channel: email
            subject: "Hello {{ customerFristName }}"
            body: |
              Hello {{ customerFirstName }},
              Visit {{ dashboardURL }} today.
            html: "<p>{{ customerEmial }}</p>"
        """,
    )
    assert found == [
        "messages.yaml:5:14: subject: unknown variable 'customerFristName' "
        '(did you mean "customerFirstName"?)',
        "messages.yaml:8:7: body: unknown variable 'dashboardURL' (did you mean \"dashboardUrl\"?)",
        "messages.yaml:9:11: html: unknown variable 'customerEmial' "
        '(did you mean "customerEmail"?)',
    ]


def test_pass_variables_without_a_pass_field_are_reported(tmp_path):
    found = problems_of(
        tmp_path,
        """\
        messages:
          news:
            segments: [pass-participants]
            channel: sms
            body: |
              {{ passName }} ends {{ passExpiresOn }}
              in {{ daysUntilExpiration }} days, {{ pointsEarned }} points.
        """,
    )
    assert found == [
        "messages.yaml:6:7: body: {{ passExpiresOn }} needs the message's pass: field",
        "messages.yaml:6:7: body: {{ passName }} needs the message's pass: field",
        "messages.yaml:7:7: body: {{ daysUntilExpiration }} needs the message's pass: field",
        "messages.yaml:7:7: body: {{ pointsEarned }} needs the message's pass: field",
    ]


def test_pass_variables_are_allowed_with_a_pass_field(tmp_path):
    found = problems_of(
        tmp_path,
        """\
        messages:
          news:
            segments: [pass-participants]
            channel: sms
            pass: explorer-pass
            body: "{{ passName }} {{ passExpiresOn }} {{ daysUntilExpiration }} {{ pointsEarned }}"
        """,
        known_items={"explorer-pass", "prize-tshirt"},
    )
    assert found == []


def test_an_unknown_pass_item_is_reported_once_the_store_has_items(tmp_path):
    found = problems_of(
        tmp_path,
        """\
        messages:
          news:
            segments: [pass-participants]
            channel: sms
            pass: explorer-pas
            body: Hi
        """,
        known_items={"explorer-pass", "prize-tshirt"},
    )
    assert found == [
        "messages.yaml:5:11: unknown item 'explorer-pas' (did you mean \"explorer-pass\"?)"
    ]


def test_unknown_keys_are_located_at_the_key_with_a_did_you_mean(tmp_path):
    found = problems_of(
        tmp_path,
        """\
        mesages: {}
        messages:
          news:
            segments: [pass-participants]
            channel: email
            subjet: Hi
            subject: Hi
            body: Hi
            colour: red
            schedule:
              at: 2026-12-01 10:00
              misfire_grace: {hour: 2}
        """,
    )
    assert found == [
        "messages.yaml:1:1: unknown key 'mesages' (did you mean \"messages\"?)",
        "messages.yaml:6:5: unknown key 'subjet' (did you mean \"subject\"?)",
        "messages.yaml:9:5: unknown key 'colour'",
        "messages.yaml:12:23: unknown key 'hour' (did you mean \"hours\"?)",
    ]


def test_a_message_with_only_unknown_keys_still_has_its_templates_checked(tmp_path):
    found = problems_of(
        tmp_path,
        """\
        messages:
          news:
            segments: [pass-participants]
            channel: sms
            sms_bdy: x
            body: "{{ customerFirstNam }}"
        """,
    )
    assert found == [
        "messages.yaml:5:5: unknown key 'sms_bdy' (did you mean \"sms_body\"?)",
        "messages.yaml:6:11: body: unknown variable 'customerFirstNam' "
        '(did you mean "customerFirstName"?)',
    ]


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (
            "{every: fortnightly, start: 2026-11-01 09:00}",
            "messages.yaml:6:23: schedule.every: every takes a count and a unit, "
            "like '1 day' or '30 minutes', not 'fortnightly'",
        ),
        (
            "{every: 0 days, start: 2026-11-01 09:00}",
            "messages.yaml:6:23: schedule.every: every takes a count and a unit, "
            "like '1 day' or '30 minutes', not '0 days'",
        ),
        (
            "{at: 2026-12-01 10:00, every: 1 day}",
            "messages.yaml:6:15: schedule: a schedule has either at: (one time) "
            "or every: (recurring)",
        ),
        (
            "{every: 1 day}",
            "messages.yaml:6:15: schedule: a recurring schedule needs start:",
        ),
        (
            "{at: 2026-12-01 10:00, resends: 3}",
            "messages.yaml:6:15: schedule: start and resends go with every:, not at:",
        ),
        (
            "{at: 'next tuesday'}",
            "messages.yaml:6:20: schedule.at: not a date and time like 2026-11-01 09:00: "
            "'next tuesday'",
        ),
        (
            "{at: '2026-12-01T10:00:00+01:00'}",
            "messages.yaml:6:20: schedule.at: write schedule times without an offset: "
            "they are local times",
        ),
        (
            "{every: 1 day, start: 2026-11-01 09:00, resends: -1}",
            "messages.yaml:6:64: schedule.resends: Input should be greater than or equal to 0",
        ),
        (
            "{at: 2026-12-01 10:00, misfire_grace: {hours: 0}}",
            "messages.yaml:6:53: schedule.misfire_grace: a duration must be positive",
        ),
    ],
)
def test_a_bad_schedule_is_located_at_the_offending_value(tmp_path, schedule, expected):
    found = problems_of(
        tmp_path,
        f"""\
        messages:
          news:
            segments: [pass-participants]
            channel: sms
            body: Hi
            schedule: {schedule}
        """,
    )
    assert found == [expected]


def test_a_message_with_a_bad_schedule_still_has_its_references_and_templates_checked(
    tmp_path,
):
    found = problems_of(
        tmp_path,
        """\
        messages:
          news:
            segments: [expires-son]
            channel: sms
            body: "Hi {{ customerFirstNam }}"
            schedule: {every: fortnightly, start: 2026-11-01 09:00}
        """,
    )
    assert found == [
        "messages.yaml:3:16: unknown segment 'expires-son' (did you mean \"expires-soon\"?)",
        "messages.yaml:5:11: body: unknown variable 'customerFirstNam' "
        '(did you mean "customerFirstName"?)',
        "messages.yaml:6:23: schedule.every: every takes a count and a unit, "
        "like '1 day' or '30 minutes', not 'fortnightly'",
    ]


def test_missing_fields_are_reported_at_the_message(tmp_path):
    found = problems_of(
        tmp_path,
        """\
        messages:
          news:
            channel: sms
        """,
    )
    assert found == [
        "messages.yaml:3:5: message needs body",
        "messages.yaml:3:5: message needs segments",
    ]


def test_validate_reports_every_problem_of_every_message_and_exits_2(runner, project):
    write_files(
        project,
        """\
        messages:
          a:
            segments: [expires-son]
            channel: sms
            body: Hi
          b:
            segments: [expires-soon]
            channel: email
            body: "{{ customerFirstNam }}"
        """,
    )
    result = runner.invoke(app, ["validate", "--project", str(project)])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[:3] == [
        "messages.yaml:3:16: unknown segment 'expires-son' (did you mean \"expires-soon\"?)",
        "messages.yaml:7:5: a message sent by email needs a subject",
        "messages.yaml:9:11: body: unknown variable 'customerFirstNam' "
        '(did you mean "customerFirstName"?)',
    ]
    assert result.stdout == ""

    as_json = runner.invoke(app, ["validate", "--project", str(project), "--json"])
    assert as_json.exit_code == 2
    document = json.loads(as_json.stdout)
    assert document["valid"] is False
    assert document["problems"][0] == {
        "file": "messages.yaml",
        "line": 3,
        "column": 16,
        "message": "unknown segment 'expires-son' (did you mean \"expires-soon\"?)",
    }


def test_a_problem_in_a_folded_block_is_located_on_its_own_line(tmp_path):
    found = problems_of(
        tmp_path,
        """\
        messages:
          news:
            segments: [pass-participants]
            channel: sms
            body: >
              Hello {{ customerFirstName }},
              see {{ dashbordUrl }}
        """,
    )
    assert [line.split(": ")[0].rsplit(":", 1)[0] for line in found] == ["messages.yaml:7"]


def test_a_misspelt_customer_field_is_reported(tmp_path):
    found = problems_of(
        tmp_path,
        """\
        messages:
          news:
            segments: [pass-participants]
            channel: sms
            body: "{{ customer.atributes.tier }}"
        """,
    )
    assert len(found) == 1
    assert found[0].startswith("messages.yaml:5:11: ")
    assert "atributes" in found[0]
