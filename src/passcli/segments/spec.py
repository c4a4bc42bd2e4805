"""The segments.yaml format as typed, immutable models (SPEC §3).

A condition is a one-key mapping (`- purchase: {...}`); `parse_condition` reads one into
the model of its kind and reports problems by their path in the file, so validation can
collect every problem at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from passcli.segments.comparisons import Comparison, Spec, Window
from passcli.store.schema import CUSTOMER_FIELDS
from passcli.yamlpos import YamlPath, did_you_mean

PassStatus = Literal["active", "expired", "all"]


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class Purchase(Spec):
    item: list[str] = Field(min_length=1)
    channel: str | None = None
    when: Literal["anytime"] | None = None
    days_since_purchase: Comparison | None = None
    status: PassStatus = "all"

    _items = field_validator("item", mode="before")(_as_list)

    @model_validator(mode="after")
    def _when_or_days(self) -> Purchase:
        if self.when is not None and self.days_since_purchase is not None:
            raise ValueError("give either when: anytime or days_since_purchase, not both")
        return self


class Expiration(Spec):
    item: list[str] = Field(min_length=1)
    days_until_expiration: Comparison

    _items = field_validator("item", mode="before")(_as_list)


class Redemptions(Spec):
    pass_: list[str] = Field(alias="pass", min_length=1)
    pass_status: PassStatus = "all"
    count: Comparison = Comparison(at_least=1)
    within: Window | None = None
    location: list[str] | None = None

    _passes = field_validator("pass_", mode="before")(_as_list)
    _locations = field_validator("location", mode="before")(_as_list)


class Points(Spec):
    pass_: list[str] = Field(alias="pass", min_length=1)
    points: Comparison
    within: Window | None = None

    _passes = field_validator("pass_", mode="before")(_as_list)


WhereOp = Literal["equals", "not_equals", "greater_than", "less_than", "contains", "exists"]


class Where(Spec):
    property: str
    op: WhereOp
    value: str | int | float | bool | None = None

    @model_validator(mode="after")
    def _value_needed(self) -> Where:
        if self.op != "exists" and self.value is None:
            raise ValueError(f"op {self.op} needs a value")
        if self.op in ("greater_than", "less_than") and (
            isinstance(self.value, bool) or not isinstance(self.value, int | float)
        ):
            raise ValueError(f"op {self.op} needs a number")
        return self


class Aggregate(Comparison):
    """`sum: {property: revenue, greater_than: 300}`: a property and a comparison."""

    property: str

    def as_comparison(self) -> Comparison:
        """The comparison alone, without the property."""
        op = self.operator
        value: Any = getattr(self, op)
        return Comparison.model_validate({op: value})


AGGREGATES = ("count", "sum", "avg", "min", "max")


class Event(Spec):
    name: str
    where: list[Where] = []
    within: Window | None = None
    count: Comparison | None = None
    sum: Aggregate | None = None
    avg: Aggregate | None = None
    min: Aggregate | None = None
    max: Aggregate | None = None

    @model_validator(mode="after")
    def _one_aggregate(self) -> Event:
        given = [a for a in AGGREGATES if getattr(self, a) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of {', '.join(AGGREGATES)}, not {' and '.join(given)}")
        return self

    @property
    def aggregate(self) -> str:
        return next((a for a in AGGREGATES if getattr(self, a) is not None), "count")

    @property
    def comparison(self) -> Comparison:
        if self.aggregate == "count":
            return self.count or Comparison(at_least=1)
        agg: Aggregate = getattr(self, self.aggregate)
        return agg.as_comparison()


BUILTIN_ATTRIBUTES = CUSTOMER_FIELDS
AttributeOp = Literal[
    "equals", "not_equals", "in", "contains", "exists", "not_exists", "greater_than", "less_than"
]


class Attribute(Spec):
    name: str
    op: AttributeOp
    value: Any = None

    @model_validator(mode="after")
    def _value_needed(self) -> Attribute:
        if self.op in ("exists", "not_exists"):
            return self
        if self.value is None:
            raise ValueError(f"op {self.op} needs a value")
        if self.op == "in" and (not isinstance(self.value, list) or not self.value):
            raise ValueError("op in needs a non-empty list of values")
        return self


class Subscribed(Spec):
    channel: Literal["email", "sms"]


class OfferUses(Spec):
    """`offer: {name, uses: <comparison>, within}`: the customer's uses of an offer (a use
    with N attendees counts N), over all time or a window."""

    name: str
    uses: Comparison
    within: Window | None = None


@dataclass(frozen=True)
class GroupRef:
    """`group: NAME`. `items` holds a membership group's items once groups.yaml is read
    (`resolve_groups`): its members are the holders of an active purchase of one of them."""

    name: str
    items: tuple[str, ...] | None = None


@dataclass(frozen=True)
class SegmentRef:
    name: str


@dataclass(frozen=True)
class AllOf:
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    condition: Condition


Leaf = Purchase | Expiration | Redemptions | Points | Event | Attribute | Subscribed | OfferUses
Condition = Leaf | SegmentRef | GroupRef | AllOf | AnyOf | Not

LEAF_KINDS: dict[str, type[Spec]] = {
    "purchase": Purchase,
    "expiration": Expiration,
    "redemptions": Redemptions,
    "points": Points,
    "event": Event,
    "attribute": Attribute,
    "subscribed": Subscribed,
    "offer": OfferUses,
}
CONDITION_KINDS = (*LEAF_KINDS, "segment", "group", "all", "any", "not")


@dataclass(frozen=True)
class SegmentSpec:
    name: str
    description: str | None
    match: Literal["all", "any"]
    conditions: tuple[Condition, ...]

    @property
    def root(self) -> Condition:
        return AllOf(self.conditions) if self.match == "all" else AnyOf(self.conditions)


@dataclass(frozen=True)
class Problem:
    """A problem at a path of the file; `at_key` points at the key rather than its value."""

    path: YamlPath
    message: str
    at_key: bool = False
    text_line: int = 0  # a line inside a multi-line value (templates), 1-based
    needle: str | None = None  # the text the problem is about, to find it in folded strings


SEGMENT_KEYS = ("description", "match", "conditions")


def parse_segments(data: Any, problems: list[Problem]) -> dict[str, SegmentSpec]:
    """Every well-formed segment of a segments.yaml document; problems are appended."""
    if data is None:
        return {}
    if not isinstance(data, dict) or set(data) - {"segments"}:
        extra = sorted(str(k) for k in data) if isinstance(data, dict) else []
        for key in extra:
            if key != "segments":
                problems.append(
                    Problem((key,), f"unknown key {key!r}{did_you_mean(key, ['segments'])}", True)
                )
        if not isinstance(data, dict):
            problems.append(Problem((), "segments.yaml must be a mapping with a segments: key"))
            return {}
    body = data.get("segments") or {}
    if not isinstance(body, dict):
        problems.append(Problem(("segments",), "segments: must map names to segments"))
        return {}
    result: dict[str, SegmentSpec] = {}
    for name, raw in body.items():
        spec = _parse_segment(str(name), raw, ("segments", name), problems)
        if spec is not None:
            result[str(name)] = spec
    return result


def _parse_segment(
    name: str, raw: Any, path: YamlPath, problems: list[Problem]
) -> SegmentSpec | None:
    if not isinstance(raw, dict):
        problems.append(Problem(path, f"segment {name!r} must be a mapping with conditions:"))
        return None
    before = len(problems)
    for key in raw:
        if key not in SEGMENT_KEYS:
            hint = did_you_mean(str(key), SEGMENT_KEYS)
            problems.append(Problem((*path, key), f"unknown key {key!r}{hint}", True))
    match = raw.get("match", "all")
    if match not in ("all", "any"):
        problems.append(Problem((*path, "match"), f"match must be all or any, not {match!r}"))
    description = raw.get("description")
    if description is not None and not isinstance(description, str):
        problems.append(Problem((*path, "description"), "description must be text"))
    conditions = raw.get("conditions")
    if not isinstance(conditions, list) or not conditions:
        problems.append(Problem(path, f"segment {name!r} needs a non-empty conditions: list"))
        return None
    parsed = [
        parse_condition(item, (*path, "conditions", index), problems)
        for index, item in enumerate(conditions)
    ]
    if len(problems) > before:
        return None
    return SegmentSpec(
        name=name,
        description=description,
        match=match,
        conditions=tuple(c for c in parsed if c is not None),
    )


def parse_condition(raw: Any, path: YamlPath, problems: list[Problem]) -> Condition | None:
    """One condition from its one-key mapping; None (with problems appended) when invalid."""
    if not isinstance(raw, dict) or len(raw) != 1:
        problems.append(
            Problem(
                path,
                f"a condition is a one-key mapping such as purchase: {{...}}; "
                f"kinds: {', '.join(CONDITION_KINDS)}",
            )
        )
        return None
    ((kind, body),) = raw.items()
    here = (*path, kind)
    if kind in ("all", "any"):
        if not isinstance(body, list) or not body:
            problems.append(Problem(here, f"{kind}: needs a non-empty list of conditions"))
            return None
        children = [parse_condition(c, (*here, i), problems) for i, c in enumerate(body)]
        if any(c is None for c in children):
            return None
        cls = AllOf if kind == "all" else AnyOf
        return cls(tuple(c for c in children if c is not None))
    if kind == "not":
        child = parse_condition(body, here, problems)
        return None if child is None else Not(child)
    if kind == "segment":
        if not isinstance(body, str) or not body:
            problems.append(Problem(here, "segment: takes another segment's name"))
            return None
        return SegmentRef(body)
    if kind == "group":
        if not isinstance(body, str) or not body:
            problems.append(Problem(here, "group: takes a group's name (groups.yaml)"))
            return None
        return GroupRef(body)
    model = LEAF_KINDS.get(str(kind))
    if model is None:
        hint = did_you_mean(str(kind), CONDITION_KINDS)
        problems.append(Problem(here, f"unknown condition {kind!r}{hint}", True))
        return None
    if not isinstance(body, dict):
        problems.append(Problem(here, f"{kind}: takes a mapping of its fields"))
        return None
    try:
        return model.model_validate(body)  # type: ignore[return-value]
    except ValidationError as exc:
        problems.extend(_translate(exc, kind, model, here))
        return None


def _translate(exc: ValidationError, kind: str, model: type[Spec], path: YamlPath) -> list[Problem]:
    result: list[Problem] = []
    for error in exc.errors():
        loc = tuple("pass" if part == "pass_" else part for part in error["loc"])
        where = (*path, *loc)
        if error["type"] == "extra_forbidden":
            key = str(loc[-1])
            fields = [f.alias or name for name, f in model.model_fields.items()]
            if len(loc) > 1:
                fields = _nested_fields(model, loc[:-1]) or fields
            result.append(
                Problem(where, f"unknown key {key!r} in {kind}{did_you_mean(key, fields)}", True)
            )
        elif error["type"] == "missing":
            result.append(Problem(path, f"{kind} needs {'.'.join(map(str, loc))}"))
        else:
            message = error["msg"].removeprefix("Value error, ")
            label = ".".join(str(p) for p in loc if not isinstance(p, int)) or kind
            result.append(Problem(where, f"{label}: {message}"))
    return result


def _nested_fields(model: type[Spec], loc: tuple[Any, ...]) -> list[str]:
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", {})
        field = fields.get(part) or fields.get(f"{part}_")
        if field is None:
            return []
        annotation = field.annotation
        args = [
            a for a in getattr(annotation, "__args__", (annotation,)) if hasattr(a, "model_fields")
        ]
        if not args:
            return []
        current = args[0]
    return [f.alias or name for name, f in current.model_fields.items()]


def resolve_groups(
    segments: dict[str, SegmentSpec], membership_items: dict[str, tuple[str, ...]]
) -> dict[str, SegmentSpec]:
    """The segments with each `group:` condition on a membership group given its items."""
    if not membership_items:
        return segments

    def resolve(condition: Condition) -> Condition:
        if isinstance(condition, GroupRef):
            items = membership_items.get(condition.name)
            return GroupRef(condition.name, items) if items is not None else condition
        if isinstance(condition, AllOf | AnyOf):
            return type(condition)(tuple(resolve(c) for c in condition.conditions))
        if isinstance(condition, Not):
            return Not(resolve(condition.condition))
        return condition

    return {
        name: SegmentSpec(
            spec.name, spec.description, spec.match, tuple(resolve(c) for c in spec.conditions)
        )
        for name, spec in segments.items()
    }


def referenced(segments: dict[str, SegmentSpec], kind: type[Any]) -> Iterator[Any]:
    """Every condition of class `kind` in the segments."""

    def walk(condition: Condition) -> Iterator[Any]:
        if isinstance(condition, kind):
            yield condition
        if isinstance(condition, AllOf | AnyOf):
            for child in condition.conditions:
                yield from walk(child)
        elif isinstance(condition, Not):
            yield from walk(condition.condition)

    for spec in segments.values():
        for condition in spec.conditions:
            yield from walk(condition)
