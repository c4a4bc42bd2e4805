"""A passcli project: its directory, its YAML files loaded into typed specs.

Loading never stops at the first problem: every problem in every file comes back as a
`Diagnostic` (FILE:LINE:COLUMN: message), and `InvalidProjectError` carries them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from passcli.errors import Diagnostic, InvalidProjectError
from passcli.groups.spec import GroupsFile, MembershipGroup, parse_groups
from passcli.groups.validate import check_groups
from passcli.journeys.spec import JourneySpec, parse_journeys
from passcli.journeys.validate import check_journeys
from passcli.messages.spec import MessageSpec, parse_messages
from passcli.messages.validate import check_messages
from passcli.policy.spec import Policy, parse_policy
from passcli.segments.spec import Problem, SegmentSpec, parse_segments, resolve_groups
from passcli.segments.validate import check_segments
from passcli.yamlpos import LoadedYaml, Positions, load_yaml

SEGMENTS_FILE = "segments.yaml"
MESSAGES_FILE = "messages.yaml"
GROUPS_FILE = "groups.yaml"
JOURNEYS_FILE = "journeys.yaml"
POLICY_FILE = "policy.yaml"


@dataclass(frozen=True)
class Project:
    directory: Path
    segments: dict[str, SegmentSpec]
    messages: dict[str, MessageSpec] = field(default_factory=dict)
    groups: GroupsFile = field(default_factory=GroupsFile)
    journeys: dict[str, JourneySpec] = field(default_factory=dict)
    policy: Policy = field(default_factory=Policy)


def _load(directory: Path, name: str) -> LoadedYaml | None:
    path = directory / name
    return load_yaml(path, name) if path.is_file() else None


def _located(positions: Positions, problems: list[Problem]) -> list[Diagnostic]:
    return [
        positions.diagnostic(p.path, p.message, p.at_key, p.text_line, p.needle) for p in problems
    ]


def load_project(
    directory: Path, known_items: set[str] | None = None
) -> tuple[Project, list[Diagnostic]]:
    """Every file of the project, and every problem found in them."""
    diagnostics: list[Diagnostic] = []
    groups = GroupsFile()
    loaded_groups = _load(directory, GROUPS_FILE)
    group_names: set[str] = set()
    offer_names: set[str] = set()
    if loaded_groups is not None:
        diagnostics += loaded_groups.problems
        problems: list[Problem] = []
        groups = parse_groups(loaded_groups.data, problems)
        problems += check_groups(groups, known_items)
        diagnostics += _located(loaded_groups.positions, problems)
        group_names = set(groups.groups) | _declared(loaded_groups, "groups")
        offer_names = set(groups.offers) | _declared(loaded_groups, "offers")
    segments: dict[str, SegmentSpec] = {}
    loaded = _load(directory, SEGMENTS_FILE)
    if loaded is None:
        diagnostics.append(
            Diagnostic(SEGMENTS_FILE, 1, 1, f"no {SEGMENTS_FILE} in {directory} (passcli init?)")
        )
    else:
        diagnostics += loaded.problems
        problems = []
        segments = parse_segments(loaded.data, problems)
        problems += check_segments(loaded.data, segments, known_items, group_names, offer_names)
        diagnostics += _located(loaded.positions, problems)
        items = {
            name: tuple(group.items)
            for name, group in groups.groups.items()
            if isinstance(group, MembershipGroup)
        }
        segments = resolve_groups(segments, items)
    messages: dict[str, MessageSpec] = {}
    loaded_messages = _load(directory, MESSAGES_FILE)
    if loaded_messages is not None:
        diagnostics += loaded_messages.problems
        problems = []
        messages = parse_messages(loaded_messages.data, problems)
        names = set(segments) | _declared(loaded, "segments")
        subscription = set(groups.subscription_groups()) | _declared_kind(
            loaded_groups, "subscription"
        )
        kinds = {name: group.kind for name, group in groups.groups.items()}
        problems += check_messages(messages, names, known_items, subscription, kinds)
        diagnostics += _located(loaded_messages.positions, problems)
    journeys: dict[str, JourneySpec] = {}
    loaded_journeys = _load(directory, JOURNEYS_FILE)
    if loaded_journeys is not None:
        diagnostics += loaded_journeys.problems
        problems = []
        journeys = parse_journeys(loaded_journeys.data, problems)
        problems += check_journeys(
            journeys,
            set(messages) | _declared(loaded_messages, "messages"),
            set(segments) | _declared(loaded, "segments"),
            groups,
            group_names,
        )
        diagnostics += _located(loaded_journeys.positions, problems)
    policy, problems_of_policy = load_policy(directory)
    diagnostics += problems_of_policy
    project = Project(directory, segments, messages, groups, journeys, policy)
    return project, sorted(set(diagnostics))


def load_policy(directory: Path) -> tuple[Policy, list[Diagnostic]]:
    """policy.yaml alone (the empty policy when there is none), and its problems."""
    loaded = _load(directory, POLICY_FILE)
    if loaded is None:
        return Policy(), []
    problems: list[Problem] = []
    policy = parse_policy(loaded.data, problems)
    return policy, loaded.problems + _located(loaded.positions, problems)


def _declared(loaded: LoadedYaml | None, section: str) -> set[str]:
    """Names under `section:` of a file, valid or not (a broken segment or group is reported
    where it is declared, not again as an unknown reference from everything naming it)."""
    data = loaded.data if loaded is not None else None
    body = data.get(section) if isinstance(data, dict) else None
    return {str(name) for name in body} if isinstance(body, dict) else set()


def _declared_kind(loaded: LoadedYaml | None, kind: str) -> set[str]:
    """Group names of groups.yaml declared with this kind, valid or not."""
    data = loaded.data if loaded is not None else None
    body = data.get("groups") if isinstance(data, dict) else None
    if not isinstance(body, dict):
        return set()
    return {str(n) for n, g in body.items() if isinstance(g, dict) and g.get("kind") == kind}


def require_project(directory: Path, known_items: set[str] | None = None) -> Project:
    """The project, or InvalidProjectError listing every problem."""
    project, diagnostics = load_project(directory, known_items)
    if diagnostics:
        raise InvalidProjectError(diagnostics)
    return project
