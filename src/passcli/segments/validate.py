"""Cross-checks of segments.yaml beyond its shape: references, cycles, item names."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from passcli.segments.spec import Problem, SegmentSpec
from passcli.yamlpos import YamlPath, did_you_mean

ITEM_FIELDS = {"purchase": "item", "expiration": "item", "redemptions": "pass", "points": "pass"}


def check_segments(
    data: Any,
    segments: dict[str, SegmentSpec],
    known_items: set[str] | None,
    groups: Collection[str] = (),
    offers: Collection[str] = (),
) -> list[Problem]:
    """Unknown segment, group and offer references (with did-you-mean), reference cycles,
    and item or pass names the store does not know (only once the store has items)."""
    problems: list[Problem] = []
    body = data.get("segments") if isinstance(data, dict) else None
    if not isinstance(body, dict):
        return problems
    names = [str(n) for n in body]
    edges: dict[str, list[tuple[str, YamlPath]]] = {name: [] for name in names}
    for name, raw in body.items():
        conditions = raw.get("conditions") if isinstance(raw, dict) else None
        base: YamlPath = ("segments", name, "conditions")
        for kind, value, path in _walk(conditions, base):
            if kind == "segment" and isinstance(value, str):
                if value not in body:
                    hint = did_you_mean(value, names)
                    problems.append(Problem(path, f"unknown segment {value!r}{hint}"))
                else:
                    edges[str(name)].append((value, path))
            if kind == "group" and isinstance(value, str) and value not in groups:
                problems.append(Problem(path, _unknown("group", value, groups)))
            if kind == "offer" and isinstance(value, dict):
                offer = value.get("name")
                if isinstance(offer, str) and offer not in offers:
                    problems.append(Problem((*path, "name"), _unknown("offer", offer, offers)))
            field = ITEM_FIELDS.get(kind)
            if field and known_items and isinstance(value, dict):
                listed = value.get(field)
                named = [((*path, field), listed)] if isinstance(listed, str) else []
                if isinstance(listed, list):
                    named = [((*path, field, i), item) for i, item in enumerate(listed)]
                for where, item in named:
                    if isinstance(item, str) and item not in known_items:
                        hint = did_you_mean(item, known_items)
                        problems.append(Problem(where, f"unknown item {item!r}{hint}"))
    problems += _cycles(edges)
    return problems


def _unknown(kind: str, name: str, names: Collection[str]) -> str:
    if not names:
        return f"unknown {kind} {name!r} (groups.yaml declares no {kind}s)"
    return f"unknown {kind} {name!r}{did_you_mean(name, names)}"


def _walk(conditions: Any, path: YamlPath) -> Iterator[tuple[str, Any, YamlPath]]:
    if not isinstance(conditions, list):
        return
    for index, condition in enumerate(conditions):
        yield from _walk_one(condition, (*path, index))


def _walk_one(condition: Any, path: YamlPath) -> Iterator[tuple[str, Any, YamlPath]]:
    """A condition at `path` (its one-key mapping), then the conditions nested in it."""
    if not isinstance(condition, dict) or len(condition) != 1:
        return
    ((kind, value),) = condition.items()
    here = (*path, kind)
    yield str(kind), value, here
    if kind in ("all", "any"):
        yield from _walk(value, here)
    elif kind == "not":
        yield from _walk_one(value, here)


def _cycles(edges: dict[str, list[tuple[str, YamlPath]]]) -> list[Problem]:
    problems: list[Problem] = []
    reported: set[frozenset[str]] = set()
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for target, path in edges.get(name, []):
            if state.get(target) == 1:
                cycle = [*stack[stack.index(target) :], target]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    problems.append(Problem(path, f"segment cycle: {' -> '.join(cycle)}"))
            elif state.get(target) is None:
                visit(target)
        stack.pop()
        state[name] = 2

    for name in edges:
        if name not in state:
            visit(name)
    return problems
