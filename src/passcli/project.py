"""A passcli project: its directory, its YAML files loaded into typed specs.

Loading never stops at the first problem: every problem in every file comes back as a
`Diagnostic` (FILE:LINE:COLUMN: message), and `InvalidProjectError` carries them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from passcli.errors import Diagnostic, InvalidProjectError
from passcli.messages.spec import MessageSpec, parse_messages
from passcli.messages.validate import check_messages
from passcli.segments.spec import Problem, SegmentSpec, parse_segments
from passcli.segments.validate import check_segments
from passcli.yamlpos import LoadedYaml, Positions, load_yaml

SEGMENTS_FILE = "segments.yaml"
MESSAGES_FILE = "messages.yaml"


@dataclass(frozen=True)
class Project:
    directory: Path
    segments: dict[str, SegmentSpec]
    messages: dict[str, MessageSpec] = field(default_factory=dict)


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
    segments: dict[str, SegmentSpec] = {}
    loaded = _load(directory, SEGMENTS_FILE)
    if loaded is None:
        diagnostics.append(
            Diagnostic(SEGMENTS_FILE, 1, 1, f"no {SEGMENTS_FILE} in {directory} (passcli init?)")
        )
    else:
        diagnostics += loaded.problems
        problems: list[Problem] = []
        segments = parse_segments(loaded.data, problems)
        problems += check_segments(loaded.data, segments, known_items)
        diagnostics += _located(loaded.positions, problems)
    messages: dict[str, MessageSpec] = {}
    loaded_messages = _load(directory, MESSAGES_FILE)
    if loaded_messages is not None:
        diagnostics += loaded_messages.problems
        problems = []
        messages = parse_messages(loaded_messages.data, problems)
        names = set(segments) | _declared_segments(loaded)
        problems += check_messages(messages, names, known_items)
        diagnostics += _located(loaded_messages.positions, problems)
    return Project(directory, segments, messages), sorted(set(diagnostics))


def _declared_segments(loaded: LoadedYaml | None) -> set[str]:
    """Segment names in segments.yaml, valid or not (a broken segment is reported there,
    not again as an unknown reference from every message)."""
    data = loaded.data if loaded is not None else None
    body = data.get("segments") if isinstance(data, dict) else None
    return {str(name) for name in body} if isinstance(body, dict) else set()


def require_project(directory: Path, known_items: set[str] | None = None) -> Project:
    """The project, or InvalidProjectError listing every problem."""
    project, diagnostics = load_project(directory, known_items)
    if diagnostics:
        raise InvalidProjectError(diagnostics)
    return project
