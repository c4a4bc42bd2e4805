"""The groups.yaml format (SPEC §8 and §9) as typed, immutable models: groups of three kinds,
the global SMS keyword replies, and offers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, TypeAdapter, ValidationError, field_validator

from passcli.segments.comparisons import Spec
from passcli.segments.spec import Problem
from passcli.yamlpos import YamlPath, did_you_mean

# A keyword is one word of letters and digits, as carriers and Twilio treat them.
KEYWORD_RE = re.compile(r"^[A-Za-z0-9]+$")


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class ManualGroup(Spec):
    """People added by hand (`passcli group add`), by email or phone."""

    kind: Literal["manual"]
    description: str | None = None


class MembershipGroup(Spec):
    """Everyone holding an active purchase of one of `items`, kept up to date by the store."""

    kind: Literal["membership"]
    description: str | None = None
    items: list[str] = Field(min_length=1)

    _items = field_validator("items", mode="before")(_as_list)


def _keyword(value: Any) -> str:
    """One join keyword, upper case. YAML reads an unquoted YES, NO, ON or OFF as a boolean
    and 2026 as a number: a number is taken as its digits, a boolean must be quoted."""
    if isinstance(value, bool):
        raise ValueError(
            f"YAML reads this unquoted word as {str(value).lower()}: quote the keyword"
        )
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError("a keyword is one word of letters and digits")
    if not KEYWORD_RE.match(value):
        raise ValueError(f"a keyword is one word of letters and digits, not {value!r}")
    return value.upper()


class SubscriptionGroup(Spec):
    """People who subscribed on a channel, by texting one of `join_keywords` or by hand."""

    kind: Literal["subscription"]
    description: str | None = None
    channel: Literal["sms"] = "sms"
    join_keywords: list[Annotated[str, BeforeValidator(_keyword)]] = []
    join_reply: str | None = None

    _keywords = field_validator("join_keywords", mode="before")(_as_list)


GroupSpec = Annotated[
    ManualGroup | MembershipGroup | SubscriptionGroup, Field(discriminator="kind")
]
GROUP_KINDS = ("manual", "membership", "subscription")
_GROUP = TypeAdapter(GroupSpec)


class SmsKeywords(Spec):
    """The global replies to the STOP, START and HELP families (SPEC §8)."""

    help_reply: str = "{{ organizationName }}: reply STOP to opt out."
    stop_reply: str = (
        "You're unsubscribed and will get no more messages. Reply START to resubscribe."
    )
    start_reply: str = "You're resubscribed. Reply STOP to opt out."


class Attendees(Spec):
    """How many people one use may admit, the holder included."""

    max: int = Field(ge=1)


Period = Literal["day", "week", "month", "year", "ever"]


class UsageLimit(Spec):
    uses: int = Field(ge=1)
    per: Period = "ever"


class OfferSpec(Spec):
    title: str | None = None
    description: str | None = None
    groups: list[str] = []
    items: list[str] = []
    enabled: bool = True
    attendees: Attendees = Attendees(max=1)
    usage_limit: UsageLimit | None = None

    _lists = field_validator("groups", "items", mode="before")(_as_list)


@dataclass(frozen=True)
class GroupsFile:
    """Everything groups.yaml declares (an absent file declares nothing)."""

    groups: dict[str, ManualGroup | MembershipGroup | SubscriptionGroup] = field(
        default_factory=dict
    )
    sms_keywords: SmsKeywords = SmsKeywords()
    offers: dict[str, OfferSpec] = field(default_factory=dict)
    # Every name under `groups:`, well-formed or not: an offer naming a broken group is
    # reported where the group is broken, not again as naming an unknown group.
    declared_groups: frozenset[str] = frozenset()

    def subscription_groups(self) -> dict[str, SubscriptionGroup]:
        return {n: g for n, g in self.groups.items() if isinstance(g, SubscriptionGroup)}


TOP_KEYS = ("groups", "sms_keywords", "offers")
KIND_KEYS: dict[str, tuple[str, ...]] = {
    "manual": tuple(ManualGroup.model_fields),
    "membership": tuple(MembershipGroup.model_fields),
    "subscription": tuple(SubscriptionGroup.model_fields),
}


def parse_groups(data: Any, problems: list[Problem]) -> GroupsFile:
    """Every well-formed group, the keyword replies and every well-formed offer of a
    groups.yaml document; problems are appended with their paths."""
    if data is None:
        return GroupsFile()
    if not isinstance(data, dict):
        problems.append(Problem((), "groups.yaml must be a mapping with a groups: key"))
        return GroupsFile()
    for key in data:
        if key not in TOP_KEYS:
            problems.append(
                Problem((key,), f"unknown key {key!r}{did_you_mean(str(key), TOP_KEYS)}", True)
            )
    groups: dict[str, ManualGroup | MembershipGroup | SubscriptionGroup] = {}
    for name, raw in _section(data, "groups", problems):
        path: YamlPath = ("groups", name)
        if not isinstance(raw, dict):
            problems.append(Problem(path, f"group {name!r} must be a mapping with a kind:"))
            continue
        kind = raw.get("kind")
        if kind not in GROUP_KINDS:
            shown = f" {kind!r}" if kind is not None else ""
            hint = did_you_mean(str(kind), GROUP_KINDS) if kind is not None else ""
            message = f"group needs kind: one of {', '.join(GROUP_KINDS)}, not{shown}{hint}"
            if kind is None:
                message = f"group needs kind: one of {', '.join(GROUP_KINDS)}"
            problems.append(Problem((*path, "kind") if kind is not None else path, message))
            continue
        try:
            groups[str(name)] = _GROUP.validate_python(raw)
        except ValidationError as exc:
            problems.extend(_translate(exc, path, KIND_KEYS[str(kind)], "group", skip=1))
    keywords = SmsKeywords()
    raw_keywords = data.get("sms_keywords")
    if raw_keywords is not None:
        if not isinstance(raw_keywords, dict):
            problems.append(Problem(("sms_keywords",), "sms_keywords: must be a mapping"))
        else:
            try:
                keywords = SmsKeywords.model_validate(raw_keywords)
            except ValidationError as exc:
                problems.extend(
                    _translate(
                        exc, ("sms_keywords",), tuple(SmsKeywords.model_fields), "sms_keywords"
                    )
                )
                # The replies that are well-formed, so that their templates are checked too.
                fields = SmsKeywords.model_fields
                good = {k: v for k, v in raw_keywords.items() if k in fields and isinstance(v, str)}
                keywords = SmsKeywords.model_validate(good)
    offers: dict[str, OfferSpec] = {}
    for name, raw in _section(data, "offers", problems):
        path = ("offers", name)
        if not isinstance(raw, dict):
            problems.append(Problem(path, f"offer {name!r} must be a mapping"))
            continue
        try:
            offers[str(name)] = OfferSpec.model_validate(raw)
        except ValidationError as exc:
            problems.extend(_translate(exc, path, OFFER_KEYS, "offer"))
    declared = frozenset(str(name) for name, _ in _section(data, "groups", []))
    return GroupsFile(groups, keywords, offers, declared)


OFFER_KEYS = tuple(OfferSpec.model_fields)
NESTED_KEYS = {
    "attendees": tuple(Attendees.model_fields),
    "usage_limit": tuple(UsageLimit.model_fields),
}


def _section(data: dict[str, Any], key: str, problems: list[Problem]) -> list[tuple[Any, Any]]:
    body = data.get(key)
    if body is None:
        return []
    if not isinstance(body, dict):
        problems.append(Problem((key,), f"{key}: must map names to {key}"))
        return []
    return list(body.items())


def _translate(
    exc: ValidationError, path: YamlPath, keys: tuple[str, ...], what: str, skip: int = 0
) -> list[Problem]:
    """Pydantic's errors as problems at their paths. `skip` drops the leading parts of each
    error's location that name the union member (`subscription` in a discriminated union)."""
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])[skip:]
        where = (*path, *loc)
        if error["type"] == "extra_forbidden":
            key = str(loc[-1])
            choices = NESTED_KEYS.get(str(loc[0]), keys) if len(loc) > 1 else keys
            problems.append(
                Problem(where, f"unknown key {key!r}{did_you_mean(key, choices)}", True)
            )
        elif error["type"] == "missing":
            problems.append(Problem(path, f"{what} needs {'.'.join(map(str, loc))}"))
        else:
            message = error["msg"].removeprefix("Value error, ")
            label = ".".join(str(p) for p in loc if not isinstance(p, int)) or what
            problems.append(Problem(where, f"{label}: {message}"))
    return problems
