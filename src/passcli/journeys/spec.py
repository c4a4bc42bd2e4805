"""The journeys.yaml format (SPEC §7) as typed, immutable models.

A journey is an entry (a segment or an event, checked on a schedule), optional exit and
conversion conditions, and a list of steps. A step is a one-key mapping (`- send: NAME`,
`- delay: {...}`) or the word `end`, with an optional `id:` beside its key; steps are
referred to by id (default: their position from 1, as text). Durations, event matches and
conversions are the models messages.yaml uses too (`messages/conversion.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from typing import Any, Literal

from pydantic import ValidationError, field_validator, model_validator

from passcli.messages.conversion import Conversion, EventMatch, Span
from passcli.segments.comparisons import Spec
from passcli.segments.spec import Condition, Problem, parse_condition
from passcli.yamlpos import YamlPath, did_you_mean

STEP_KINDS = (
    "send",
    "delay",
    "wait_for",
    "split",
    "add_to_group",
    "remove_from_group",
    "end",
)


def _clock(value: Any) -> Any:
    """`"09:00"` (YAML reads unquoted 09:00 as a number of minutes: accept that too)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return time(value // 60, value % 60) if 0 <= value < 1440 else value
    if isinstance(value, str):
        try:
            return time.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"a time of day like '09:00', not {value!r}") from None
    return value


class Delay(Spec):
    """`{seconds|minutes|hours|days: N}`, or `{until: "09:00", local_time: true}`: the next
    such wall time, in the customer's zone (local_time) or the organisation's."""

    seconds: float = 0
    minutes: float = 0
    hours: float = 0
    days: float = 0
    weeks: float = 0
    until: time | None = None
    local_time: bool = False

    _until = field_validator("until", mode="before")(_clock)

    @property
    def span(self) -> int:
        return round(
            self.seconds
            + self.minutes * 60
            + self.hours * 3600
            + (self.days + self.weeks * 7) * 86400
        )

    @model_validator(mode="after")
    def _one_form(self) -> Delay:
        if self.until is not None and self.span:
            raise ValueError("give a duration or until:, not both")
        if self.until is None and self.span <= 0:
            raise ValueError("a delay needs a positive duration or until: HH:MM")
        if self.local_time and self.until is None:
            raise ValueError("local_time goes with until:")
        return self


class EntrySchedule(Spec):
    """When entry is checked: `{every: 1 day, at: "12:00", local_time: true}`."""

    every: Literal["1 day", "1 days", "day"] = "1 day"
    at: time
    local_time: bool = False

    _at = field_validator("at", mode="before")(_clock)


class ReEntry(Spec):
    after: Span


@dataclass(frozen=True)
class Entry:
    segment: str | None
    event: EventMatch | None
    schedule: EntrySchedule | None
    re_entry: Span | None  # None: never re-enter


@dataclass(frozen=True)
class Send:
    message: str


@dataclass(frozen=True)
class DelayStep:
    delay: Delay


@dataclass(frozen=True)
class WaitFor:
    event: EventMatch | None
    segment: str | None
    within: Span
    on_timeout: str  # "end", "continue", or a step id to go to


@dataclass(frozen=True)
class Split:
    condition: Condition
    then: str
    else_: str


@dataclass(frozen=True)
class GroupChange:
    group: str
    add: bool


@dataclass(frozen=True)
class End:
    pass


Action = Send | DelayStep | WaitFor | Split | GroupChange | End


@dataclass(frozen=True)
class Step:
    id: str
    kind: str
    action: Action
    index: int  # position in the list, from 0


@dataclass(frozen=True)
class JourneySpec:
    name: str
    title: str | None
    entry: Entry
    exit_when: Condition | None
    conversion: Conversion | None
    steps: tuple[Step, ...]
    ids: dict[str, int] = field(default_factory=dict)  # step id -> index

    def step(self, step_id: str) -> Step:
        return self.steps[self.ids[step_id]]

    def after(self, step: Step) -> Step | None:
        """The step that follows `step` in the list, or None at the end."""
        following = step.index + 1
        return self.steps[following] if following < len(self.steps) else None


JOURNEY_KEYS = ("title", "description", "entry", "exit_when", "conversion", "steps")
ENTRY_KEYS = ("segment", "event", "schedule", "re_entry")


def parse_journeys(data: Any, problems: list[Problem]) -> dict[str, JourneySpec]:
    """Every well-formed journey of a journeys.yaml document; problems are appended."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        problems.append(Problem((), "journeys.yaml must be a mapping with a journeys: key"))
        return {}
    for key in data:
        if key != "journeys":
            hint = did_you_mean(str(key), ["journeys"])
            problems.append(Problem((key,), f"unknown key {key!r}{hint}", True))
    body = data.get("journeys") or {}
    if not isinstance(body, dict):
        problems.append(Problem(("journeys",), "journeys: must map names to journeys"))
        return {}
    result: dict[str, JourneySpec] = {}
    for name, raw in body.items():
        before = len(problems)
        spec = _journey(str(name), raw, ("journeys", name), problems)
        if spec is not None and len(problems) == before:
            result[str(name)] = spec
    return result


def _model(model: type[Spec], raw: Any, path: YamlPath, problems: list[Problem]) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            where = (*path, *loc)
            if error["type"] == "extra_forbidden":
                key = str(loc[-1])
                hint = did_you_mean(key, list(_fields_at(model, loc[:-1])))
                problems.append(Problem(where, f"unknown key {key!r}{hint}", True))
            elif error["type"] == "missing":
                problems.append(Problem(path, f"needs {'.'.join(map(str, loc))}"))
            else:
                message = error["msg"].removeprefix("Value error, ")
                label = ".".join(str(p) for p in loc if not isinstance(p, int))
                problems.append(Problem(where, f"{label}: {message}" if label else message))
        return None


def _fields_at(model: type[Spec], loc: tuple[Any, ...]) -> list[str]:
    """The keys of the (nested) model found at `loc`, for a did-you-mean."""
    for part in loc:
        field_info = model.model_fields.get(str(part))
        inner = field_info.annotation if field_info is not None else None
        if not (isinstance(inner, type) and issubclass(inner, Spec)):
            break
        model = inner
    return list(model.model_fields)


def _journey(name: str, raw: Any, path: YamlPath, problems: list[Problem]) -> JourneySpec | None:
    if not isinstance(raw, dict):
        problems.append(Problem(path, f"journey {name!r} must be a mapping with entry: and steps:"))
        return None
    for key in raw:
        if key not in JOURNEY_KEYS:
            hint = did_you_mean(str(key), JOURNEY_KEYS)
            problems.append(Problem((*path, key), f"unknown key {key!r}{hint}", True))
    entry = _entry(raw.get("entry"), (*path, "entry"), problems, path)
    exit_when = None
    if raw.get("exit_when") is not None:
        exit_when = parse_condition(raw["exit_when"], (*path, "exit_when"), problems)
    conversion = None
    if raw.get("conversion") is not None:
        conversion = _model(Conversion, raw["conversion"], (*path, "conversion"), problems)
    steps = _steps(raw.get("steps"), (*path, "steps"), problems, path)
    title = raw.get("title")
    if entry is None or steps is None:
        return None
    ids = {step.id: step.index for step in steps}
    return JourneySpec(
        name,
        str(title) if title is not None else None,
        entry,
        exit_when,
        conversion,
        tuple(steps),
        ids,
    )


def _entry(raw: Any, path: YamlPath, problems: list[Problem], parent: YamlPath) -> Entry | None:
    if not isinstance(raw, dict):
        problems.append(Problem(parent, "a journey needs entry: {segment: NAME} or {event: ...}"))
        return None
    for key in raw:
        if key not in ENTRY_KEYS:
            hint = did_you_mean(str(key), ENTRY_KEYS)
            problems.append(Problem((*path, key), f"unknown key {key!r}{hint}", True))
    segment = raw.get("segment")
    event = None
    if raw.get("event") is not None:
        event = _model(EventMatch, raw["event"], (*path, "event"), problems)
    if (segment is None) == (raw.get("event") is None):
        problems.append(
            Problem(path, "entry takes segment: NAME or event: {name: ...}, one of them")
        )
        return None
    if segment is not None and not isinstance(segment, str):
        problems.append(Problem((*path, "segment"), "segment: takes a segment's name"))
        return None
    schedule = None
    if raw.get("schedule") is not None:
        schedule = _model(EntrySchedule, raw["schedule"], (*path, "schedule"), problems)
    re_entry: Span | None = None
    value = raw.get("re_entry", False)
    if value is True:
        problems.append(Problem((*path, "re_entry"), "re_entry takes false or {after: {days: N}}"))
    elif isinstance(value, dict):
        parsed = _model(ReEntry, value, (*path, "re_entry"), problems)
        re_entry = parsed.after if parsed is not None else None
    elif value is not False:
        problems.append(Problem((*path, "re_entry"), "re_entry takes false or {after: {days: N}}"))
    return Entry(segment, event, schedule, re_entry)


def _steps(
    raw: Any, path: YamlPath, problems: list[Problem], parent: YamlPath
) -> list[Step] | None:
    if not isinstance(raw, list) or not raw:
        problems.append(Problem(parent, "a journey needs a non-empty steps: list"))
        return None
    steps: list[Step] = []
    for index, item in enumerate(raw):
        step = _step(item, index, (*path, index), problems)
        if step is not None:
            steps.append(step)
    return steps


def _step(raw: Any, index: int, path: YamlPath, problems: list[Problem]) -> Step | None:
    default_id = str(index + 1)
    if raw == "end":
        return Step(default_id, "end", End(), index)
    if not isinstance(raw, dict):
        problems.append(
            Problem(path, f"a step is `end` or a mapping with one of {', '.join(STEP_KINDS)}")
        )
        return None
    step_id = raw.get("id", default_id)
    kinds = [k for k in raw if k != "id"]
    if len(kinds) != 1 or kinds[0] not in STEP_KINDS:
        unknown = [k for k in kinds if k not in STEP_KINDS]
        if unknown:
            key = str(unknown[0])
            hint = did_you_mean(key, STEP_KINDS)
            problems.append(Problem((*path, key), f"unknown step {key!r}{hint}", True))
        else:
            problems.append(
                Problem(path, f"a step has one of {', '.join(STEP_KINDS)} (and optionally id:)")
            )
        return None
    kind = str(kinds[0])
    value = raw[kind]
    here = (*path, kind)
    action: Action | None = None
    if kind == "send":
        if isinstance(value, str) and value:
            action = Send(value)
        else:
            problems.append(Problem(here, "send: takes a message's name"))
    elif kind == "delay":
        delay = _model(Delay, value, here, problems)
        action = DelayStep(delay) if delay is not None else None
    elif kind == "wait_for":
        action = _wait(value, here, problems)
    elif kind == "split":
        action = _split(value, here, problems)
    elif kind in ("add_to_group", "remove_from_group"):
        if isinstance(value, str) and value:
            action = GroupChange(value, kind == "add_to_group")
        else:
            problems.append(Problem(here, f"{kind}: takes a group's name"))
    else:  # end
        action = End()
    if action is None:
        return None
    return Step(str(step_id), kind, action, index)


def _wait(value: Any, path: YamlPath, problems: list[Problem]) -> WaitFor | None:
    if not isinstance(value, dict):
        problems.append(
            Problem(path, "wait_for: takes {event: ..., within: ...} or {segment: NAME, ...}")
        )
        return None
    allowed = ("event", "segment", "within", "on_timeout")
    for key in value:
        if key not in allowed:
            hint = did_you_mean(str(key), allowed)
            problems.append(Problem((*path, key), f"unknown key {key!r}{hint}", True))
    event = None
    if value.get("event") is not None:
        event = _model(EventMatch, value["event"], (*path, "event"), problems)
    segment = value.get("segment")
    if (value.get("event") is None) == (segment is None):
        problems.append(
            Problem(path, "wait_for takes event: {name: ...} or segment: NAME, one of them")
        )
        return None
    if "within" not in value:
        problems.append(Problem(path, "wait_for needs within: {days: N} (how long to wait)"))
        return None
    within = _model(Span, value["within"], (*path, "within"), problems)
    timeout = value.get("on_timeout", "end")
    if isinstance(timeout, dict) and set(timeout) == {"goto"}:
        timeout = str(timeout["goto"])
    elif timeout not in ("end", "continue"):
        problems.append(
            Problem((*path, "on_timeout"), "on_timeout takes end, continue or {goto: STEP_ID}")
        )
        return None
    if within is None:
        return None
    return WaitFor(event, str(segment) if segment is not None else None, within, str(timeout))


def _split(value: Any, path: YamlPath, problems: list[Problem]) -> Split | None:
    if not isinstance(value, dict) or not {"if", "then", "else"} <= set(value):
        problems.append(Problem(path, "split: takes {if: CONDITION, then: STEP_ID, else: STEP_ID}"))
        return None
    for key in value:
        if key not in ("if", "then", "else"):
            problems.append(Problem((*path, key), f"unknown key {key!r}", True))
    condition = parse_condition(value["if"], (*path, "if"), problems)
    if condition is None:
        return None
    return Split(condition, str(value["then"]), str(value["else"]))
