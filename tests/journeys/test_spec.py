"""journeys.yaml: parsed into typed steps, every problem located at FILE:LINE:COLUMN."""

from __future__ import annotations

import textwrap
from pathlib import Path

from passcli.journeys.spec import DelayStep, Send, WaitFor
from passcli.project import load_project
from passcli.scaffold import init_project, template_text

from .seed import JOURNEYS, MESSAGES


def project(tmp_path: Path, journeys: str, messages: str = MESSAGES) -> Path:
    directory = tmp_path / "p"
    init_project(directory)
    (directory / "groups.yaml").write_text(template_text("groups.yaml"), encoding="utf-8")
    with (directory / "messages.yaml").open("a", encoding="utf-8") as f:
        f.write(messages)
    (directory / "journeys.yaml").write_text(textwrap.dedent(journeys), encoding="utf-8")
    return directory


def problems(tmp_path: Path, journeys: str) -> list[str]:
    _, found = load_project(project(tmp_path, journeys))
    return [str(d) for d in found]


def test_the_seed_journey_is_valid_and_parsed_into_its_steps(tmp_path):
    loaded, found = load_project(project(tmp_path, JOURNEYS))
    assert found == []
    journey = loaded.journeys["loyalty-invite"]
    assert journey.entry.segment == "high-ltv"
    assert journey.entry.re_entry is None
    assert journey.entry.schedule is not None and journey.entry.schedule.local_time
    assert [s.id for s in journey.steps] == ["1", "2", "3", "4", "5"]
    assert [s.kind for s in journey.steps] == [
        "send",
        "wait_for",
        "delay",
        "send",
        "add_to_group",
    ]
    assert journey.steps[0].action == Send("loyalty-invite-email")
    wait = journey.steps[1].action
    assert isinstance(wait, WaitFor) and wait.within.total == 7 * 86400
    assert wait.on_timeout == "end"
    delay = journey.steps[2].action
    assert isinstance(delay, DelayStep) and delay.delay.span == 30
    assert journey.conversion is not None and journey.conversion.within.total == 3 * 86400


def test_unknown_names_are_located_with_a_did_you_mean(tmp_path):
    found = problems(
        tmp_path,
        """\
        journeys:
          j:
            entry: {segment: high-lvt}
            steps:
              - send: loyalty-invite-emial
              - add_to_group: vipp
              - remove_from_group: members
        """,
    )
    assert found == [
        "journeys.yaml:3:22: unknown segment 'high-lvt' (did you mean \"high-ltv\"?)",
        "journeys.yaml:5:15: unknown message 'loyalty-invite-emial' "
        '(did you mean "loyalty-invite-email"?)',
        "journeys.yaml:6:23: unknown group 'vipp' (did you mean \"vip\"?)",
        "journeys.yaml:7:28: group 'members' is a membership group: its purchases decide "
        "who is in it, a journey cannot change it",
    ]


def test_misspelt_keys_and_step_kinds_get_a_did_you_mean(tmp_path):
    found = problems(
        tmp_path,
        """\
        journeys:
          j:
            entry: {segment: high-ltv, schedul: {at: "12:00"}}
            stepz: []
            steps:
              - sned: loyalty-invite-email
        """,
    )
    assert found == [
        "journeys.yaml:3:32: unknown key 'schedul' (did you mean \"schedule\"?)",
        "journeys.yaml:4:5: unknown key 'stepz' (did you mean \"steps\"?)",
        "journeys.yaml:6:9: unknown step 'sned' (did you mean \"send\"?)",
    ]


def test_unknown_step_ids_unreachable_steps_and_duplicates(tmp_path):
    found = problems(
        tmp_path,
        """\
        journeys:
          j:
            entry: {segment: high-ltv}
            steps:
              - id: start
                split: {if: {subscribed: {channel: sms}}, then: text, else: mail}
              - id: mail
                send: loyalty-invite-email
              - end
              - id: mail
                send: loyalty-offer-sms
        """,
    )
    assert found == [
        "journeys.yaml:6:57: unknown step 'text'",
        "journeys.yaml:10:9: step id 'mail' is used twice",
    ]


def test_steps_may_not_form_a_cycle(tmp_path):
    found = problems(
        tmp_path,
        """\
        journeys:
          j:
            entry: {segment: high-ltv}
            steps:
              - id: mail
                send: loyalty-invite-email
              - wait_for: {event: {name: Session Started}, within: {days: 1}, on_timeout: continue}
              - delay: {days: 1}
              - split: {if: {subscribed: {channel: sms}}, then: mail, else: done}
              - id: done
                end: null
        """,
    )
    assert found == [
        "journeys.yaml:9:9: steps form a cycle (mail -> 2 -> 3 -> 4 -> mail): "
        "each step runs at most once per entry",
    ]


def test_bad_values_are_located_at_the_value(tmp_path):
    found = problems(
        tmp_path,
        """\
        journeys:
          j:
            entry: {segment: high-ltv, re_entry: true}
            conversion: {event: {name: Session Started}, within: {dayz: 3}}
            steps:
              - delay: {seconds: 0}
              - delay: {until: "25:00", local_time: true}
              - wait_for: {event: {name: X}, within: {days: 1}, on_timeout: later}
        """,
    )
    assert found == [
        "journeys.yaml:3:42: re_entry takes false or {after: {days: N}}",
        "journeys.yaml:4:59: unknown key 'dayz' (did you mean \"days\"?)",
        "journeys.yaml:6:16: a delay needs a positive duration or until: HH:MM",
        "journeys.yaml:7:24: until: a time of day like '09:00', not '25:00'",
        "journeys.yaml:8:69: on_timeout takes end, continue or {goto: STEP_ID}",
    ]
