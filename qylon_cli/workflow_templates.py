"""Templates in workflow definitions: their syntax and what they refer to, never rendered.

A step's parameters hold ``{{ expression }}`` placeholders, and its ``if`` is an
expression. The syntax is a subset of Jinja2's (which the server will render in a
sandbox), checked here without Jinja2: names are ``input`` (the run's input) and
``steps`` (earlier steps' results); attributes, ``[index]``, literals, comparisons
(``== != < <= > >= in not in``, ``is defined``), ``and``/``or``/``not``, arithmetic,
``a if c else b`` and filters (``| default("x")``). Every expression of this subset
parses with Python's own parser, which is what checks it here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_LITERAL_NAMES = {"true", "false", "none", "True", "False", "None"}
FILTERS = {
    "default",
    "lower",
    "upper",
    "trim",
    "title",
    "capitalize",
    "join",
    "length",
    "first",
    "last",
    "string",
    "int",
    "float",
    "tojson",
    "replace",
    "urlencode",
}
TESTS = {"defined", "undefined", "none", "number", "string", "mapping", "sequence"}
STEP_FIELDS = ("output", "status", "error")
_COMPARE = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn)
_ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod)


class TemplateProblem(ValueError):
    pass


def placeholders(text: str) -> list[str]:
    """The expressions inside ``{{ }}`` in ``text``; TemplateProblem for a ``{{`` never
    closed or a ``{% %}``/``{# #}`` block (only expressions are allowed)."""
    for opener in ("{%", "{#"):
        if opener in text:
            raise TemplateProblem(
                f"{opener} ... blocks are not allowed; use {{{{ expression }}}} only"
            )
    found = _PLACEHOLDER.findall(text)
    if "{{" in _PLACEHOLDER.sub("", text):
        raise TemplateProblem("a {{ is not closed by }}")
    return found


def strings(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    """Every string in a parameter value, with its path (keys and list indexes)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from strings(item, path + (index,))


def parse(expression: str) -> ast.expr:
    source = expression.strip()
    if not source:
        raise TemplateProblem("an empty expression")
    try:
        return ast.parse(source, mode="eval").body
    except SyntaxError as exc:
        raise TemplateProblem(f"bad syntax ({exc.msg})") from None


def references(node: ast.expr) -> Iterator[tuple[str, ...]]:
    """Check ``node`` is in the subset; yield each reference as its names, e.g.
    ``("steps", "find", "output", "id")`` (a computed index is ``"[]"``)."""
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, (str, int, float, bool, type(None))):
            raise TemplateProblem(f"{ast.unparse(node)} is not allowed here")
    elif isinstance(node, (ast.Name, ast.Attribute, ast.Subscript)):
        yield from _chain(node)
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            yield from references(value)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub, ast.UAdd)):
        yield from references(node.operand)
    elif isinstance(node, ast.Compare):
        yield from references(node.left)
        for op, right in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, (ast.Is, ast.IsNot)):
                if not (isinstance(right, ast.Name) and right.id in TESTS):
                    raise TemplateProblem(f"`is` takes a test: {', '.join(sorted(TESTS))}")
            elif isinstance(op, _COMPARE):
                yield from references(right)
            else:
                raise TemplateProblem(f"{ast.unparse(node)}: operator not allowed")
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        yield from references(node.left)
        yield from _filter(node.right)
    elif isinstance(node, ast.BinOp) and isinstance(node.op, _ARITHMETIC):
        yield from references(node.left)
        yield from references(node.right)
    elif isinstance(node, ast.IfExp):
        for part in (node.test, node.body, node.orelse):
            yield from references(part)
    elif isinstance(node, (ast.List, ast.Tuple)):
        for item in node.elts:
            yield from references(item)
    else:
        raise TemplateProblem(f"{ast.unparse(node)!r} is not allowed in a workflow template")


def _filter(node: ast.expr) -> Iterator[tuple[str, ...]]:
    call = node if isinstance(node, ast.Call) else None
    name = call.func if call else node
    if not isinstance(name, ast.Name) or name.id not in FILTERS:
        shown = ast.unparse(name)
        raise TemplateProblem(f"unknown filter {shown!r}; filters: {', '.join(sorted(FILTERS))}")
    if call:
        for arg in [*call.args, *(k.value for k in call.keywords)]:
            yield from references(arg)


def _chain(node: ast.expr) -> Iterator[tuple[str, ...]]:
    parts: list[str] = []
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
        elif isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, (str, int)):
            parts.append(str(node.slice.value))
        else:
            yield from references(node.slice)
            parts.append("[]")
        node = node.value
    if not isinstance(node, ast.Name):
        raise TemplateProblem(f"{ast.unparse(node)!r} is not allowed in a workflow template")
    if node.id in _LITERAL_NAMES and not parts:
        return
    if node.id not in ("input", "steps"):
        raise TemplateProblem(
            f"unknown name {node.id!r}; use input.NAME or steps.NAME.output (or true, false, none)"
        )
    yield (node.id, *reversed(parts))


def check(
    expression: str, resolve: Callable[[tuple[str, ...]], str | None]
) -> TemplateProblem | None:
    """The first problem with ``expression``: its syntax, or a reference that ``resolve``
    refuses (it returns a message for a bad reference, None for a good one)."""
    try:
        for ref in references(parse(expression)):
            message = resolve(ref)
            if message:
                return TemplateProblem(message)
    except TemplateProblem as exc:
        return exc
    return None
