"""The messages.yaml format (SPEC §4) as typed, immutable models."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from passcli.messages.conversion import Conversion, EventMatch, Span
from passcli.segments.comparisons import Spec
from passcli.segments.spec import Problem
from passcli.yamlpos import YamlPath, did_you_mean

Channel = Literal["email", "sms", "any"]

EVERY_RE = re.compile(r"^\s*(\d+)\s*(minute|hour|day|week)s?\s*$")


class Duration(Spec):
    """`{minutes|hours|days|weeks: N}`, as in `misfire_grace: {hours: 24}`."""

    minutes: float = 0
    hours: float = 0
    days: float = 0
    weeks: float = 0

    @property
    def seconds(self) -> int:
        return round(((self.weeks * 7 + self.days) * 24 + self.hours) * 3600 + self.minutes * 60)

    @model_validator(mode="after")
    def _positive(self) -> Duration:
        if self.seconds <= 0:
            raise ValueError("a duration must be positive")
        return self


# How late a send may still go out: a scheduled occurrence, a send held by quiet hours.
DEFAULT_MISFIRE_GRACE = Duration(hours=24)


def _wall_time(value: Any) -> Any:
    """`2026-11-01 09:00` (a string: YAML has no minutes-only timestamps) or a datetime."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise ValueError("write schedule times without an offset: they are local times")
        return value
    if isinstance(value, date):
        return datetime.combine(value, time(0, 0))
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"not a date and time like 2026-11-01 09:00: {value!r}") from None
        if parsed.tzinfo is not None:
            raise ValueError("write schedule times without an offset: they are local times")
        return parsed
    return value


class Schedule(Spec):
    """`{at: WHEN}` once, or `{every: N unit, start: WHEN, resends: N}` recurring."""

    at: datetime | None = None
    every: str | None = None
    start: datetime | None = None
    resends: int | None = Field(default=None, ge=0)
    local_time: bool = False
    misfire_grace: Duration = DEFAULT_MISFIRE_GRACE

    _times = field_validator("at", "start", mode="before")(_wall_time)

    @field_validator("every")
    @classmethod
    def _every(cls, value: str | None) -> str | None:
        if value is not None:
            match = EVERY_RE.match(value)
            if match is None or int(match.group(1)) <= 0:
                raise ValueError(
                    f"every takes a count and a unit, like '1 day' or '30 minutes', not {value!r}"
                )
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Schedule:
        if (self.at is None) == (self.every is None):
            raise ValueError("a schedule has either at: (one time) or every: (recurring)")
        if self.at is not None and (self.start is not None or self.resends is not None):
            raise ValueError("start and resends go with every:, not at:")
        if self.every is not None and self.start is None:
            raise ValueError("a recurring schedule needs start:")
        return self

    @property
    def interval(self) -> tuple[int, str]:
        """(count, unit) of `every`, the unit singular: minute, hour, day or week."""
        assert self.every is not None
        match = EVERY_RE.match(self.every)
        assert match is not None
        return int(match.group(1)), match.group(2)


class MessageSpec(Spec):
    title: str | None = None
    segments: list[str] = Field(min_length=1)
    exclude: list[str] = []
    channel: Channel = "email"
    subject: str | None = None
    header: str | None = None
    body: str
    html: str | None = None
    sms_body: str | None = None
    pass_: str | None = Field(default=None, alias="pass")
    once_per_customer: bool = True
    schedule: Schedule | None = None
    subscription_group: str | None = None  # only members of this group (groups.yaml) get it
    # What counts as converting, for reports (SPEC §10). Left out of model_dump, so out of
    # the fingerprint: it changes no send, so adding one does not make a new version.
    conversion: Conversion | None = Field(default=None, exclude=True)
    # The sending policy (policy.yaml, SPEC §11): tags name the message for tagged frequency
    # caps; a transactional message ignores the caps, and may send inside quiet hours. Left
    # out of the fingerprint too: they decide when a send may go out, not what it says.
    tags: list[str] = Field(default=[], exclude=True)
    ignore_caps: bool = Field(default=False, exclude=True)
    ignore_quiet_hours: bool = Field(default=False, exclude=True)

    _lists = field_validator("segments", "exclude", "tags", mode="before")(
        lambda value: [value] if isinstance(value, str) else value
    )

    @property
    def tag_set(self) -> frozenset[str]:
        return frozenset(self.tags)

    def sms_text(self) -> str:
        """The SMS template: `sms_body` when given, else `body`."""
        return self.sms_body if self.sms_body is not None else self.body


REQUIRED_KEYS = frozenset({"segments", "body"})
MESSAGE_KEYS = tuple(f.alias or name for name, f in MessageSpec.model_fields.items())
SCHEDULE_KEYS = tuple(Schedule.model_fields)


def parse_messages(data: Any, problems: list[Problem]) -> dict[str, MessageSpec]:
    """Every well-formed message of a messages.yaml document; problems are appended."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        problems.append(Problem((), "messages.yaml must be a mapping with a messages: key"))
        return {}
    for key in data:
        if key != "messages":
            hint = did_you_mean(str(key), ["messages"])
            problems.append(Problem((key,), f"unknown key {key!r}{hint}", True))
    body = data.get("messages") or {}
    if not isinstance(body, dict):
        problems.append(Problem(("messages",), "messages: must map names to messages"))
        return {}
    result: dict[str, MessageSpec] = {}
    for name, raw in body.items():
        path: YamlPath = ("messages", name)
        if not isinstance(raw, dict):
            problems.append(Problem(path, f"message {name!r} must be a mapping"))
            continue
        try:
            result[str(name)] = MessageSpec.model_validate(raw)
        except ValidationError as exc:
            problems.extend(_translate(exc, path))
            # The rest of the message may be sound: parse it without the keys that failed
            # (unknown ones, a bad schedule...), so that its references and templates are
            # still checked: every problem at once.
            failed = {e["loc"][0] for e in exc.errors() if e["loc"]}
            if not failed & REQUIRED_KEYS:
                lenient = {k: v for k, v in raw.items() if k not in failed}
                try:
                    result[str(name)] = MessageSpec.model_validate(lenient)
                except ValidationError:
                    pass
    return result


def _translate(exc: ValidationError, path: YamlPath) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        where = (*path, *loc)
        if error["type"] == "extra_forbidden":
            key = str(loc[-1])
            choices = SCHEDULE_KEYS if "schedule" in loc[:-1] else MESSAGE_KEYS
            if "misfire_grace" in loc[:-1]:
                choices = tuple(Duration.model_fields)
            if "conversion" in loc[:-1]:
                models: dict[str, type[Spec]] = {"event": EventMatch, "within": Span}
                inner = models.get(str(loc[-2]), Conversion)
                choices = tuple(inner.model_fields)
            hint = did_you_mean(key, choices)
            problems.append(Problem(where, f"unknown key {key!r}{hint}", True))
        elif error["type"] == "missing":
            problems.append(Problem(path, f"message needs {'.'.join(map(str, loc))}"))
        else:
            message = error["msg"].removeprefix("Value error, ")
            label = ".".join(str(p) for p in loc if not isinstance(p, int)) or "message"
            problems.append(Problem(where, f"{label}: {message}"))
    return problems
