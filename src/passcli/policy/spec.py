"""The policy.yaml format (SPEC §11) as typed, immutable models."""

from __future__ import annotations

import re
from datetime import time
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from passcli.messages.audience import E164_RE, EMAIL_RE
from passcli.messages.spec import Duration
from passcli.segments.comparisons import Spec
from passcli.segments.spec import Problem
from passcli.yamlpos import YamlPath, did_you_mean

RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(s|m)\s*$")
TIME_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


class FrequencyCap(Spec):
    """At most `max` deliveries on `channel` (or any) per customer over the last `per`;
    with `tags`, only deliveries of messages carrying one of them count, and only such
    messages are capped."""

    channel: Literal["email", "sms", "any"]
    max: int = Field(ge=1)
    per: Duration
    tags: list[str] = []

    _tags = field_validator("tags", mode="before")(
        lambda value: [value] if isinstance(value, str) else value
    )

    def applies_to(self, channel: str, tags: frozenset[str]) -> bool:
        """Whether a delivery on `channel` of a message tagged `tags` counts and is capped."""
        if self.channel != "any" and self.channel != channel:
            return False
        return not self.tags or bool(tags.intersection(self.tags))


def _clock_time(value: Any) -> Any:
    """`"21:00"`. YAML 1.1 reads an unquoted 21:00 as the sexagesimal number 1260 (21 x 60):
    that is taken back to 21:00."""
    if isinstance(value, bool):
        raise ValueError('a time of day is written like "21:00"')
    if isinstance(value, int):
        if not 0 <= value < 24 * 60:
            raise ValueError('a time of day is written like "21:00"')
        return time(value // 60, value % 60)
    if isinstance(value, str):
        match = TIME_RE.match(value)
        if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59:
            raise ValueError(f'a time of day is written like "21:00", not {value!r}')
        return time(int(match.group(1)), int(match.group(2)))
    return value


class QuietHours(Spec):
    """From `start` to `end` in each customer's local time (crossing midnight when `end` is
    before `start`), sends on `channels` are held until `end`."""

    start: time
    end: time
    channels: list[Literal["email", "sms"]] = ["email", "sms"]

    _times = field_validator("start", "end", mode="before")(_clock_time)
    _channels = field_validator("channels", mode="before")(
        lambda value: [value] if isinstance(value, str) else value
    )

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("quiet hours need an end different from their start")
        return self

    def contains(self, clock: time) -> bool:
        """Whether a local clock time is inside the quiet hours (start included, end not)."""
        if self.start < self.end:
            return self.start <= clock < self.end
        return clock >= self.start or clock < self.end


class RateLimit(Spec):
    """`N/s` or `N/m`: at most `count` sends started per `seconds`."""

    count: int
    seconds: int

    @property
    def interval(self) -> float:
        """Seconds between two sends at this rate."""
        return self.seconds / self.count

    def __str__(self) -> str:
        return f"{self.count}/{'s' if self.seconds == 1 else 'm'}"


def _rate(value: Any) -> Any:
    if isinstance(value, str):
        match = RATE_RE.match(value)
        if match is None or int(match.group(1)) <= 0:
            raise ValueError(f"a rate is written like 50/s or 100/m, not {value!r}")
        return RateLimit(count=int(match.group(1)), seconds=1 if match.group(2) == "s" else 60)
    if isinstance(value, RateLimit):
        return value
    raise ValueError(f"a rate is written like 50/s or 100/m, not {value!r}")


def _seed(value: Any) -> Any:
    text = str(value).strip() if isinstance(value, str | int) else value
    if isinstance(text, str) and not (EMAIL_RE.match(text) or E164_RE.match(text)):
        raise ValueError(
            f"a seed is an email address or a phone number in E.164 (+13035550100), not {text!r}"
        )
    return text


class Policy(Spec):
    frequency_caps: list[FrequencyCap] = []
    quiet_hours: QuietHours | None = None
    rate_limits: dict[Literal["email", "sms"], RateLimit] = {}
    seed_list: list[str] = []

    @field_validator("rate_limits", mode="before")
    @classmethod
    def _rates(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: _rate(rate) for key, rate in value.items()}
        return value

    @field_validator("seed_list", mode="before")
    @classmethod
    def _seeds(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            return [_seed(seed) for seed in value]
        return value

    def caps_for(self, channel: str, tags: frozenset[str]) -> list[tuple[int, FrequencyCap]]:
        """The caps (with their index) a delivery on `channel` of a message with `tags` is
        subject to."""
        return [
            (index, cap)
            for index, cap in enumerate(self.frequency_caps)
            if cap.applies_to(channel, tags)
        ]


POLICY_KEYS = tuple(Policy.model_fields)
NESTED_KEYS: dict[str, tuple[str, ...]] = {
    "frequency_caps": tuple(FrequencyCap.model_fields),
    "quiet_hours": tuple(QuietHours.model_fields),
    "per": tuple(Duration.model_fields),
}


def parse_policy(data: Any, problems: list[Problem]) -> Policy:
    """The policy of a policy.yaml document (the default, empty one where it is broken);
    problems are appended with their paths."""
    if data is None:
        return Policy()
    if not isinstance(data, dict):
        problems.append(Problem((), "policy.yaml must be a mapping (frequency_caps:, ...)"))
        return Policy()
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems.extend(_translate(exc))
        failed = {e["loc"][0] for e in exc.errors() if e["loc"]}
    # Keep what is sound: every problem is reported, and the rest still applies to checks.
    try:
        return Policy.model_validate({k: v for k, v in data.items() if k not in failed})
    except ValidationError:
        return Policy()


def _translate(exc: ValidationError) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc: YamlPath = tuple(error["loc"])
        if error["type"] == "extra_forbidden":
            key = str(loc[-1])
            parent = next((str(p) for p in reversed(loc[:-1]) if isinstance(p, str)), "")
            choices = NESTED_KEYS.get(parent, POLICY_KEYS)
            problems.append(Problem(loc, f"unknown key {key!r}{did_you_mean(key, choices)}", True))
        elif error["type"] == "missing":
            where = loc[:-1]
            problems.append(Problem(where, f"{_label(where) or 'policy'} needs {loc[-1]}"))
        else:
            message = error["msg"].removeprefix("Value error, ")
            problems.append(Problem(loc, f"{_label(loc) or 'policy'}: {message}"))
    return problems


def _label(loc: YamlPath) -> str:
    return ".".join(str(p) for p in loc if not isinstance(p, int))
