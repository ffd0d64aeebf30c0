"""YAML for workflow definitions: the YAML 1.2 core schema, duplicate keys refused, and
the line of any field.

PyYAML implements YAML 1.1, where ``on``, ``yes``, ``no`` and ``off`` are booleans,
``010`` is eight, ``1:30`` is ninety and ``2024-01-01`` a date. Definitions are read
with the 1.2 core schema instead: only ``true``/``false`` are booleans, only
``null``/``~``/nothing is null, numbers are decimal (or ``0x``/``0o``), and every
other plain scalar is a string. PyYAML also keeps the last of two equal keys without a
word; here that is an error. Aliases (``*name``) are refused: a definition does not
need them, and they make small files that expand without bound.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_CORE_RESOLVERS = [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    (
        "tag:yaml.org,2002:int",
        r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$",
        "-+0123456789",
    ),
    (
        "tag:yaml.org,2002:float",
        (
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
        "-+0123456789.",
    ),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
]


class YamlProblem(Exception):
    """A problem found while reading: its 1-based line (None for the whole file)."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line


class CoreLoader(yaml.SafeLoader):
    """SafeLoader with the YAML 1.2 core schema's plain scalars, and no aliases."""

    yaml_implicit_resolvers: ClassVar[dict] = {}

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise YamlProblem(
                f"aliases (*{event.anchor}) are not allowed in a workflow definition",
                event.start_mark.line + 1,
            )
        return super().compose_node(parent, index)

    def construct_yaml_int(self, node):
        value = self.construct_scalar(node).replace("_", "")
        sign = -1 if value.startswith("-") else 1
        digits = value.lstrip("+-")
        if digits.startswith(("0o", "0x")):
            return sign * int(digits, 0)
        return sign * int(digits, 10)


for _tag, _pattern, _first in _CORE_RESOLVERS:
    CoreLoader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))
CoreLoader.add_constructor("tag:yaml.org,2002:int", CoreLoader.construct_yaml_int)


@dataclass
class Document:
    """A parsed file: the composed node tree (for lines) and the plain data built from it."""

    root: Node
    data: object


def parse(text: str) -> Document | None:
    """The document in ``text``, or None when it holds none (empty, or only comments).
    Raises YamlProblem for a syntax error, an alias or a second document."""
    try:
        loader = CoreLoader(text)  # its reader refuses control characters at once
    except yaml.YAMLError as exc:
        raise YamlProblem(f"not valid YAML: {exc}") from None
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _plain_tags(root)
        data = loader.construct_document(root)
    except YamlProblem:
        raise
    except RecursionError:
        raise YamlProblem("nested too deeply") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = ": ".join(part for part in (exc.context, exc.problem) if part)
        raise YamlProblem(f"not valid YAML: {message}", mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:  # e.g. a control character (ReaderError)
        raise YamlProblem(f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    return Document(root, data)


_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


def _plain_tags(root: Node) -> None:
    """Refuse tags beyond JSON's types (``!!binary``, ``!!timestamp``, ``!!set``, ``!foo``):
    a definition's data must be what JSON can hold."""
    stack = [root]
    while stack:
        node = stack.pop()
        if node.tag not in _PLAIN_TAGS:
            raise YamlProblem(
                f"the tag {node.tag} is not allowed (only strings, numbers, booleans, null, "
                "mappings and lists)",
                node.start_mark.line + 1,
            )
        if isinstance(node, MappingNode):
            stack += [part for pair in node.value for part in pair]
        elif isinstance(node, SequenceNode):
            stack += node.value


def _key(node: Node) -> object:
    return (node.tag, node.value) if isinstance(node, ScalarNode) else id(node)


def duplicate_keys(root: Node) -> Iterator[tuple[tuple, int, int]]:
    """Each key given twice in one mapping: (the path to it, its line, the first's line)."""

    def walk(node: Node, path: tuple) -> Iterator[tuple[tuple, int, int]]:
        if isinstance(node, MappingNode):
            seen: dict[object, int] = {}
            for key, value in node.value:
                name = key.value if isinstance(key, ScalarNode) else "?"
                line = key.start_mark.line + 1
                if _key(key) in seen:
                    yield path + (name,), line, seen[_key(key)]
                else:
                    seen[_key(key)] = line
                yield from walk(value, path + (name,))
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                yield from walk(item, path + (index,))

    return walk(root, ())


def line_of(root: Node, loc: tuple) -> int:
    """The line of the deepest node that ``loc`` (a pydantic error location) reaches: the
    key's line for a key that is there, else its parent's."""
    node, line = root, root.start_mark.line + 1
    for part in loc:
        if isinstance(part, bool):
            part = str(part).lower()
        if isinstance(node, MappingNode):
            found = next(
                (
                    (k, v)
                    for k, v in reversed(node.value)  # the last of equal keys is the one kept
                    if isinstance(k, ScalarNode) and k.value == str(part)
                ),
                None,
            )
            if found is None:
                return line
            key, node = found
            line = key.start_mark.line + 1
            if isinstance(node, ScalarNode):
                line = node.start_mark.line + 1
        elif isinstance(node, SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
