"""policy.yaml: what it accepts, and every problem with its position."""

from __future__ import annotations

import textwrap
from datetime import time

from passcli.policy.spec import parse_policy
from passcli.project import load_project
from passcli.scaffold import init_project

SPEC_EXAMPLE = """\
frequency_caps:                 # counted over deliveries actually sent, per customer
  - {channel: sms, max: 2, per: {days: 7}}
  - {channel: any, max: 1, per: {days: 1}, tags: [promo]}
quiet_hours: {start: "21:00", end: "08:00"}
rate_limits: {email: 50/s, sms: 1/s}
seed_list: [qa@example.com, "+13035550100"]
"""


def test_the_spec_example_parses(tmp_path):
    init_project(tmp_path)
    (tmp_path / "policy.yaml").write_text(SPEC_EXAMPLE)
    project, problems = load_project(tmp_path)
    assert problems == []
    policy = project.policy
    assert [(c.channel, c.max, c.per.seconds, c.tags) for c in policy.frequency_caps] == [
        ("sms", 2, 7 * 86400, []),
        ("any", 1, 86400, ["promo"]),
    ]
    assert policy.quiet_hours is not None
    assert (policy.quiet_hours.start, policy.quiet_hours.end) == (time(21), time(8))
    assert policy.quiet_hours.channels == ["email", "sms"]
    assert {k: (r.count, r.seconds) for k, r in policy.rate_limits.items()} == {
        "email": (50, 1),
        "sms": (1, 1),
    }
    assert policy.rate_limits["email"].interval == 0.02
    assert policy.seed_list == ["qa@example.com", "+13035550100"]


def test_no_policy_file_is_an_empty_policy(tmp_path):
    init_project(tmp_path)
    project, problems = load_project(tmp_path)
    assert problems == []
    assert project.policy.frequency_caps == [] and project.policy.quiet_hours is None


def test_an_unquoted_time_is_read_as_yaml_does_and_taken_back():
    problems: list = []
    # YAML 1.1 reads 21:00 as the sexagesimal 1260; 08:00 stays a string.
    policy = parse_policy({"quiet_hours": {"start": 1260, "end": "08:00"}}, problems)
    assert problems == []
    assert policy.quiet_hours is not None and policy.quiet_hours.start == time(21)


def test_caps_apply_by_channel_and_tags():
    policy = parse_policy(
        {
            "frequency_caps": [
                {"channel": "sms", "max": 2, "per": {"days": 7}},
                {"channel": "any", "max": 1, "per": {"days": 1}, "tags": "promo"},
            ]
        },
        [],
    )
    assert [i for i, _ in policy.caps_for("sms", frozenset())] == [0]
    assert [i for i, _ in policy.caps_for("email", frozenset())] == []
    assert [i for i, _ in policy.caps_for("email", frozenset({"promo"}))] == [1]
    assert [i for i, _ in policy.caps_for("sms", frozenset({"promo", "x"}))] == [0, 1]


def test_every_problem_is_reported_with_its_position(tmp_path, runner):
    from passcli.cli.app import app

    init_project(tmp_path)
    (tmp_path / "policy.yaml").write_text(
        textwrap.dedent(
            """\
            frequency_caps:
              - {channel: fax, max: 0, per: {dayz: 7}}
            quiet_hours: {start: "25:00", end: "08:00"}
            rate_limits: {email: 50/h}
            seed_list: [qa@, "+13035550100"]
            quiet: 1
            """
        )
    )
    result = runner.invoke(app, ["validate", "--project", str(tmp_path)])
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert (
        "policy.yaml:2:15: frequency_caps.channel: Input should be 'email', 'sms' or 'any'" in lines
    )
    assert (
        "policy.yaml:2:25: frequency_caps.max: Input should be greater than or equal to 1" in lines
    )
    assert "policy.yaml:2:34: unknown key 'dayz' (did you mean \"days\"?)" in lines
    assert any(line.startswith("policy.yaml:3:22: quiet_hours.start:") for line in lines)
    assert any(
        line.startswith("policy.yaml:4:14: rate_limits: a rate is written like") for line in lines
    )
    assert any(line.startswith("policy.yaml:5:12: seed_list: a seed is") for line in lines)
    assert any(line.startswith("policy.yaml:6:1: unknown key 'quiet'") for line in lines)


def test_quiet_hours_need_two_different_times():
    problems: list = []
    parse_policy({"quiet_hours": {"start": "08:00", "end": "08:00"}}, problems)
    assert [p.message for p in problems] == [
        "quiet_hours: quiet hours need an end different from their start"
    ]
