"""Rendering a definition's ``{{ }}`` templates and ``if`` conditions, in Jinja2's sandbox.

The syntax is checked when a definition is loaded (``qylon_cli.workflow_templates``); here
it is evaluated against ``{"input": ..., "steps": {NAME: {output, status, error}}}``. A
string that is exactly one ``{{ expression }}`` keeps the expression's type (a number
stays a number, a missing value is None); anything else renders to a string.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_WHOLE = re.compile(r"^\s*\{\{(.*?)\}\}\s*$", re.DOTALL)


class TemplateError(Exception):
    pass


@lru_cache(maxsize=1)
def _env():
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(autoescape=False, keep_trailing_newline=True)


@lru_cache(maxsize=2048)
def _expression(text: str):
    return _env().compile_expression(text, undefined_to_none=False)


@lru_cache(maxsize=2048)
def _template(text: str):
    return _env().from_string(text)


def _native(value: Any) -> Any:
    from jinja2 import Undefined

    return None if isinstance(value, Undefined) else value


def evaluate(expression: str, scope: dict) -> Any:
    from jinja2 import TemplateError as JinjaError

    try:
        return _native(_expression(expression)(**scope))
    except JinjaError as exc:
        raise TemplateError(f"{expression.strip()}: {exc}") from None


def render(value: Any, scope: dict) -> Any:
    """``value`` (a parameter: string, list or mapping) with its templates filled in."""
    from jinja2 import TemplateError as JinjaError

    if isinstance(value, dict):
        return {key: render(item, scope) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, scope) for item in value]
    if not isinstance(value, str) or "{{" not in value:
        return value
    whole = _WHOLE.match(value)
    if whole and "{{" not in whole[1]:
        return evaluate(whole[1], scope)
    try:
        return _template(value).render(**scope)
    except JinjaError as exc:
        raise TemplateError(f"{value.strip()[:200]}: {exc}") from None


def condition(expression: str, scope: dict) -> bool:
    return bool(evaluate(expression, scope))
