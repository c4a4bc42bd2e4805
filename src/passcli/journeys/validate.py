"""Cross-checks of journeys.yaml: messages, groups, segments and step ids it names, steps no
path reaches, and cycles (SPEC §7: steps may not form cycles, since each step happens at most
once per customer and entry)."""

from __future__ import annotations

from collections.abc import Collection, Iterator

from passcli.groups.spec import GroupsFile, MembershipGroup
from passcli.journeys.spec import (
    End,
    GroupChange,
    JourneySpec,
    Send,
    Split,
    Step,
    WaitFor,
)
from passcli.segments.spec import AllOf, AnyOf, Condition, GroupRef, Not, Problem, SegmentRef
from passcli.yamlpos import YamlPath, did_you_mean


def check_journeys(
    journeys: dict[str, JourneySpec],
    messages: Collection[str],
    segments: Collection[str],
    groups: GroupsFile,
    group_names: Collection[str] | None = None,
) -> list[Problem]:
    """Every problem of the journeys; `group_names` lists the groups declared in groups.yaml,
    valid or not (default: the valid ones)."""
    names = set(groups.groups) if group_names is None else set(group_names)
    problems: list[Problem] = []
    for name, journey in journeys.items():
        path: YamlPath = ("journeys", name)
        problems += _references(journey, path, messages, segments, groups, names)
        problems += _ids(journey, path)
        if not any(p.path[: len(path)] == path for p in problems):
            problems += _graph(journey, path)
    return problems


def _unknown(kind: str, name: str, names: Collection[str]) -> str:
    return f"unknown {kind} {name!r}{did_you_mean(name, names)}"


def _conditions(condition: Condition) -> Iterator[Condition]:
    yield condition
    if isinstance(condition, AllOf | AnyOf):
        for child in condition.conditions:
            yield from _conditions(child)
    elif isinstance(condition, Not):
        yield from _conditions(condition.condition)


def _condition_refs(
    condition: Condition, path: YamlPath, segments: Collection[str], groups: Collection[str]
) -> list[Problem]:
    problems = []
    for part in _conditions(condition):
        if isinstance(part, SegmentRef) and part.name not in segments:
            problems.append(Problem(path, _unknown("segment", part.name, segments)))
        if isinstance(part, GroupRef) and part.name not in groups:
            problems.append(Problem(path, _unknown("group", part.name, groups)))
    return problems


def _references(
    journey: JourneySpec,
    path: YamlPath,
    messages: Collection[str],
    segments: Collection[str],
    groups: GroupsFile,
    group_names: Collection[str],
) -> list[Problem]:
    problems: list[Problem] = []
    entry = journey.entry
    if entry.segment is not None and entry.segment not in segments:
        problems.append(
            Problem((*path, "entry", "segment"), _unknown("segment", entry.segment, segments))
        )
    if journey.exit_when is not None:
        problems += _condition_refs(journey.exit_when, (*path, "exit_when"), segments, group_names)
    for step in journey.steps:
        here = (*path, "steps", step.index, step.kind)
        action = step.action
        if isinstance(action, Send) and action.message not in messages:
            problems.append(Problem(here, _unknown("message", action.message, messages)))
        elif isinstance(action, GroupChange):
            group = groups.groups.get(action.group)
            if action.group not in group_names:
                problems.append(Problem(here, _unknown("group", action.group, group_names)))
            elif isinstance(group, MembershipGroup):
                problems.append(
                    Problem(
                        here,
                        f"group {action.group!r} is a membership group: its purchases decide "
                        "who is in it, a journey cannot change it",
                    )
                )
        elif isinstance(action, WaitFor) and action.segment is not None:
            if action.segment not in segments:
                problems.append(
                    Problem((*here, "segment"), _unknown("segment", action.segment, segments))
                )
        elif isinstance(action, Split):
            problems += _condition_refs(action.condition, (*here, "if"), segments, group_names)
    return problems


def _targets(step: Step) -> list[tuple[str, str]]:
    """The step ids a step names explicitly: (field, id)."""
    action = step.action
    if isinstance(action, Split):
        return [("then", action.then), ("else", action.else_)]
    if isinstance(action, WaitFor) and action.on_timeout not in ("end", "continue"):
        return [("on_timeout", action.on_timeout)]
    return []


def _ids(journey: JourneySpec, path: YamlPath) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for step in journey.steps:
        if step.id in seen:
            problems.append(
                Problem((*path, "steps", step.index), f"step id {step.id!r} is used twice")
            )
        seen.add(step.id)
    for step in journey.steps:
        for field, target in _targets(step):
            if target not in journey.ids:
                where = (*path, "steps", step.index, step.kind, field)
                problems.append(Problem(where, _unknown("step", target, journey.ids)))
    return problems


def successors(journey: JourneySpec, step: Step) -> list[Step]:
    """The steps a customer can go to after `step`."""
    action = step.action
    following = journey.after(step)
    if isinstance(action, End):
        return []
    if isinstance(action, Split):
        return [journey.step(action.then), journey.step(action.else_)]
    result = [following] if following is not None else []
    if isinstance(action, WaitFor) and action.on_timeout not in ("end", "continue"):
        result.append(journey.step(action.on_timeout))
    return result


def _graph(journey: JourneySpec, path: YamlPath) -> list[Problem]:
    problems: list[Problem] = []
    reached: set[str] = set()
    frontier = [journey.steps[0]]
    while frontier:
        step = frontier.pop()
        if step.id in reached:
            continue
        reached.add(step.id)
        frontier += successors(journey, step)
    for step in journey.steps:
        if step.id not in reached:
            problems.append(
                Problem((*path, "steps", step.index), f"step {step.id!r} is never reached")
            )
    # No cycles: each step happens at most once per customer and entry (SPEC §7), so a step
    # reached again could never run.
    state: dict[str, int] = {}

    def visit(step: Step, trail: list[Step]) -> None:
        state[step.id] = 1
        trail.append(step)
        for nxt in successors(journey, step):
            if state.get(nxt.id) == 1:
                loop = trail[[s.id for s in trail].index(nxt.id) :]
                names = " -> ".join([*(s.id for s in loop), nxt.id])
                problems.append(
                    Problem(
                        (*path, "steps", step.index),
                        f"steps form a cycle ({names}): each step runs at most once per entry",
                    )
                )
            elif state.get(nxt.id) is None:
                visit(nxt, trail)
        trail.pop()
        state[step.id] = 2

    for step in journey.steps:
        if step.id not in state:
            visit(step, [])
    return problems
