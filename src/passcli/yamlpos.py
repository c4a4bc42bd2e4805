"""YAML loading that remembers where every key and value stood, and did-you-mean.

Specs are validated as plain Python data; a problem found at a path such as
`("segments", "high-ltv", "conditions", 1, "event", "sum")` is located by `Positions.find`,
so that every message reads `FILE:LINE:COLUMN: message`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from passcli.errors import Diagnostic

YamlPath = tuple[str | int, ...]


@dataclass
class Positions:
    """1-based (line, column) of each path's value, and of each mapping key."""

    file: str
    values: dict[YamlPath, tuple[int, int]] = field(default_factory=dict)
    keys: dict[YamlPath, tuple[int, int]] = field(default_factory=dict)
    # Literal block scalars (`|`): the column their text is indented to (it starts on the line
    # after the indicator). Lines inside folded or quoted strings cannot be located.
    blocks: dict[YamlPath, int] = field(default_factory=dict)
    # Folded blocks (`>`): their source lines (1-based first line, texts), searched by name.
    folded: dict[YamlPath, tuple[int, list[str]]] = field(default_factory=dict)

    def find(self, path: Sequence[str | int], at_key: bool = False) -> tuple[int, int]:
        """The position of `path`, or of its nearest located ancestor."""
        current = tuple(path)
        if at_key and current in self.keys:
            return self.keys[current]
        while current:
            if current in self.values:
                return self.values[current]
            current = current[:-1]
        return self.values.get((), (1, 1))

    def diagnostic(
        self,
        path: Sequence[str | int],
        message: str,
        at_key: bool = False,
        text_line: int = 0,
        needle: str | None = None,
    ) -> Diagnostic:
        """`text_line` > 0 points at that line (1-based) inside a `|` block's text; in a `>`
        block, whose lines YAML joins, the first source line holding `needle` is used."""
        line, column = self.find(path, at_key)
        indent = self.blocks.get(tuple(path))
        folded = self.folded.get(tuple(path))
        if text_line > 0 and indent is not None:
            line, column = line + text_line, indent
        elif needle and folded is not None:
            first, texts = folded
            for offset, text in enumerate(texts):
                if needle in text:
                    return Diagnostic(self.file, first + offset, text.index(needle) + 1, message)
        return Diagnostic(self.file, line, column, message)


@dataclass(frozen=True)
class LoadedYaml:
    data: Any
    positions: Positions
    problems: list[Diagnostic]


def load_yaml(path: Path, display_name: str) -> LoadedYaml:
    """Parse one YAML file; syntax errors and duplicate keys come back as diagnostics."""
    positions = Positions(display_name)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return LoadedYaml(None, positions, [Diagnostic(display_name, 1, 1, "not UTF-8 text")])
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        return LoadedYaml(None, positions, [Diagnostic(display_name, line, column, problem)])
    finally:
        loader.dispose()
    if node is None:
        return LoadedYaml(None, positions, [])
    problems: list[Diagnostic] = []
    data = _build(node, (), positions, problems, yaml.SafeLoader(""))
    return LoadedYaml(data, positions, problems)


def _build(
    node: Node,
    path: YamlPath,
    positions: Positions,
    problems: list[Diagnostic],
    constructor: yaml.SafeLoader,
) -> Any:
    positions.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, ScalarNode):
        if node.style == "|":
            positions.blocks[path] = _block_indent(node)
        elif node.style == ">":
            lines = (node.start_mark.buffer or "").splitlines()
            first = node.start_mark.line + 1
            positions.folded[path] = (first + 1, lines[first : node.end_mark.line + 1])
        return constructor.construct_object(node, deep=True)
    if isinstance(node, SequenceNode):
        return [
            _build(item, (*path, index), positions, problems, constructor)
            for index, item in enumerate(node.value)
        ]
    if isinstance(node, MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) and key is not None:
                key = str(key)
            child = (*path, key)
            positions.keys[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in result:
                problems.append(positions.diagnostic(child, f"duplicate key {key!r}", at_key=True))
            result[key] = _build(value_node, child, positions, problems, constructor)
        return result
    return None


def _block_indent(node: ScalarNode) -> int:
    """The 1-based column where a literal block's text starts."""
    buffer = node.start_mark.buffer or ""
    lines = buffer.splitlines()
    for line in lines[node.start_mark.line + 1 : node.end_mark.line + 1]:
        if line.strip():
            return len(line) - len(line.lstrip(" ")) + 1
    return node.start_mark.column + 1


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean "x"?)' for a close match, else ''."""
    matches = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{matches[0]}"?)' if matches else ""
