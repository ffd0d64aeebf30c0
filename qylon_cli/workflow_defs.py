"""Workflow definitions: the model, its JSON Schema, and checking a YAML file with errors
that name the file, the line and the field (``offboard.yaml:14:
steps[2].retry.max_attempts: must be at least 1``).

Shared by the CLI (``qylon workflows validate``, offline) and the team server, which
runs them (next; not built yet). Docs: docs/workflows.md.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from .errors import InvalidInput
from .workflow_checks import KINDS

MAX_BYTES = 256 * 1024
_DURATION = re.compile(r"^([1-9][0-9]*)(s|m|h|d)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_DURATION_SECONDS = 366 * 86400


def seconds(duration: str) -> int:
    """``"30s"`` → 30, ``"5m"`` → 300, ``"2h"`` → 7200, ``"7d"`` → 604800."""
    match = _DURATION.match(duration)
    if not match:
        raise ValueError(f"{duration!r} is not a duration")
    return int(match[1]) * _UNIT_SECONDS[match[2]]


def _duration(value: str) -> str:
    if re.fullmatch(r"0+[smhd]", value):
        raise ValueError(f"{value!r} is no time at all: give more than zero")
    if not _DURATION.match(value):
        raise ValueError(
            f"{value!r} is not a duration: a whole number and a unit, e.g. 30s, 5m, 2h or 7d"
        )
    if seconds(value) > MAX_DURATION_SECONDS:
        raise ValueError(f"{value!r} is longer than a year (366d)")
    return value


def _matching(pattern: str, what: str, example: str):
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.match(value):
            raise ValueError(f"{value!r} is not {what}, e.g. {example}")
        return value

    return check


def _text(pattern: str, what: str, example: str, max_length: int = 64) -> Any:
    return Annotated[
        str,
        AfterValidator(_matching(pattern, what, example)),
        WithJsonSchema({"type": "string", "pattern": pattern, "maxLength": max_length}),
        Field(max_length=max_length),
    ]


Duration = Annotated[
    str,
    AfterValidator(_duration),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _DURATION.pattern,
            "description": "A whole number and a unit: s, m, h or d (30s, 5m, 2h, 7d).",
        }
    ),
]
WorkflowName = _text(
    r"^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$",
    "a workflow name (lower-case letters, digits, - and _; dots between parts)",
    "offboard-consultant or hubspot.sync",
)
Identifier = _text(
    r"^[a-z][a-z0-9_]*$",
    "a name of lower-case letters, digits and _ starting with a letter",
    "find_user",
)
ActionName = _text(
    r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$",
    "an action name",
    "users.deactivate, http.request or notify",
)
ErrorCode = _text(r"^[a-z][a-z0-9_]*$", "an error code (snake_case)", "unavailable")


class Strict(BaseModel):
    """No unknown keys, and no coercion: ``"3"`` is not 3, ``true`` is not 1 (the JSON
    Schema says the same)."""

    model_config = ConfigDict(extra="forbid", strict=True)


_PYTHON_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "object": dict,
    "array": list,
}


class InputField(Strict):
    """One named input of a run."""

    type: Literal["string", "integer", "number", "boolean", "object", "array"] = "string"
    required: bool = False
    description: str | None = None
    default: Any = None
    enum: list[str | int | float] | None = None

    @model_validator(mode="after")
    def _default_fits(self) -> InputField:
        wrong = not isinstance(self.default, _PYTHON_TYPES[self.type]) or (
            isinstance(self.default, bool) and self.type in ("integer", "number")
        )
        if self.default is not None and wrong:
            raise ValueError(f"default {json.dumps(self.default)} is not of type {self.type}")
        if self.default is not None and self.enum is not None and self.default not in self.enum:
            shown = json.dumps(self.default)
            raise ValueError(f"default {shown} is not one of enum {json.dumps(self.enum)}")
        return self


class Retry(Strict):
    """How a failing action is tried again: max_attempts tries in all, waiting
    initial_interval, then that times backoff_rate each time, at most max_interval.
    retry_on: the error codes that are retried (every error when not given)."""

    max_attempts: int = Field(3, ge=1, le=100)
    initial_interval: Duration = "1s"
    backoff_rate: float = Field(2.0, ge=1.0, le=10.0)
    max_interval: Duration = "5m"
    retry_on: list[ErrorCode] | None = None


class Compensation(Strict):
    """The action that undoes a completed step when a later one fails for good."""

    action: ActionName
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    retry: Retry | None = None
    timeout: Duration | None = None


class WaitFor(Strict):
    """Wait until the signal named signal is sent to the run; fail after timeout."""

    signal: Identifier
    timeout: Duration


class Step(Strict):
    """One step: an action (with parameters, retries, a timeout and a compensation), a
    sleep, a sleep_until or a wait_for; if skips it when the condition is false."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": [kind]} for kind in KINDS]})

    name: Identifier
    description: str | None = None
    if_: str | None = Field(None, alias="if")
    action: ActionName | None = None
    with_: dict[str, Any] | None = Field(None, alias="with")
    retry: Retry | None = None
    timeout: Duration | None = None
    compensate: Compensation | None = None
    sleep: Duration | None = None
    sleep_until: str | None = Field(
        None,
        max_length=500,
        description="Wait until this time: a template giving an ISO 8601 timestamp with "
        "its offset, e.g. '{{ steps.plan.output.due }}' (a time past: no wait).",
    )
    wait_for: WaitFor | None = None

    @property
    def kind(self) -> str:
        return next(kind for kind in KINDS if getattr(self, kind) is not None)


class Definition(Strict):
    """A workflow definition (config/workflows/*.yaml)."""

    model_config = ConfigDict(title="Qylon workflow definition")

    name: WorkflowName
    version: int = Field(ge=1)
    description: str | None = None
    input: dict[Identifier, InputField] = Field(default_factory=dict)
    subject: str | None = Field(
        None,
        max_length=500,
        description="What a run is about, from its input (a template, e.g. "
        "'{{ input.email }}'): runs are listed and filtered by it.",
    )
    timeout: Duration | None = None
    steps: list[Step] = Field(min_length=1)


def json_schema() -> dict:
    """The published JSON Schema of a definition (docs/workflow.schema.json)."""
    schema = Definition.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


# -- checking a file ----------------------------------------------------------------------


@dataclass
class Problem:
    """One error: the line (None for the whole file), the field path and what is wrong."""

    line: int | None
    field: str | None
    message: str

    def format(self, source: str) -> str:
        where = source if self.line is None else f"{source}:{self.line}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


@dataclass
class Checked:
    """The outcome of checking one definition."""

    source: str
    sha256: str | None = None
    definition: Definition | None = None
    problems: list[Problem] = field(default_factory=list)
    name: str | None = None
    version: int | None = None

    @property
    def valid(self) -> bool:
        return self.definition is not None and not self.problems

    def to_dict(self) -> dict:
        return {
            "file": self.source,
            "valid": self.valid,
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "errors": [vars(p) for p in self.problems],
        }


class WorkflowInvalid(InvalidInput):
    """A definition has errors; ``problems`` lists them."""

    code = "workflow_invalid"

    def __init__(self, message: str, *, hint: str | None = None, details: dict | None = None):
        super().__init__(message, hint=hint)
        self.details = details or {}

    def to_dict(self) -> dict:
        return {**super().to_dict(), **self.details}


def field_path(loc: tuple) -> str:
    """``("steps", 2, "retry", "max_attempts")`` → ``steps[2].retry.max_attempts``."""
    out = ""
    for part in loc:
        if part == "[key]":
            continue  # pydantic's marker for an error in a mapping's key
        if isinstance(part, bool):
            part = str(part).lower()
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", str(part)):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{str(part)!r}]"
    return out


def check(
    data: bytes | str,
    source: str = "<text>",
    *,
    model: type[BaseModel] | None = None,
    across=None,
    what: str = "a workflow definition is a mapping (name:, version:, steps:)",
) -> Checked:
    """Check a definition's text; every problem found, with its line and field. Other
    YAML files of the same make (email sequences) pass their ``model``, their checks
    ``across`` fields (data -> [(loc, message)]) and ``what`` the file is."""
    from . import workflow_checks, workflow_yaml

    model = model or Definition
    across = across or workflow_checks.across

    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    result = Checked(source=source, sha256=hashlib.sha256(raw).hexdigest())
    if len(raw) > MAX_BYTES:
        result.problems.append(Problem(None, None, f"larger than {MAX_BYTES // 1024} KiB"))
        return result
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        result.problems.append(Problem(line, None, "not UTF-8 text (save the file as UTF-8)"))
        return result
    try:
        document = workflow_yaml.parse(text)
    except workflow_yaml.YamlProblem as exc:
        result.problems.append(Problem(exc.line, None, exc.message))
        return result
    if document is None:
        result.problems.append(Problem(None, None, "the file is empty: no definition in it"))
        return result
    if not isinstance(document.data, dict):
        result.problems.append(
            Problem(
                document.root.start_mark.line + 1,
                None,
                f"{what}, not {_kind(document.data)}",
            )
        )
        return result
    for path, line, first in workflow_yaml.duplicate_keys(document.root):
        result.problems.append(
            Problem(line, field_path(path), f"given twice (first on line {first})")
        )
    name, version = document.data.get("name"), document.data.get("version")
    result.name = name if isinstance(name, str) else None
    result.version = version if isinstance(version, int) and not isinstance(version, bool) else None

    def at(loc: tuple, message: str) -> Problem:
        return Problem(workflow_yaml.line_of(document.root, loc), field_path(loc), message)

    try:
        result.definition = model.model_validate(document.data)
    except ValidationError as exc:
        result.problems += [at(e["loc"], _message(e, model)) for e in exc.errors()]
    result.problems += [at(loc, message) for loc, message in across(document.data)]
    result.problems.sort(key=lambda p: p.line or 0)
    return result


def check_file(path: Path | str, *, source: str | None = None) -> Checked:
    path = Path(path)
    source = source or str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return Checked(
            source=source, problems=[Problem(None, None, f"cannot read: {exc.strerror}")]
        )
    return check(data, source)


def load(data: bytes | str, source: str = "<text>") -> Definition:
    """The definition in ``data``; WorkflowInvalid naming every problem when it has any."""
    checked = check(data, source)
    if checked.valid:
        return checked.definition
    lines = [p.format(source) for p in checked.problems]
    raise WorkflowInvalid(
        "\n".join(lines[:20]) + (f"\n... and {len(lines) - 20} more" if len(lines) > 20 else ""),
        hint="See docs/workflows.md for the format.",
        details={"errors": [vars(p) for p in checked.problems]},
    )


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"


# -- messages ------------------------------------------------------------------------------


def _message(error: dict, model: type[BaseModel] | None = None) -> str:
    kind, ctx, loc = error["type"], error.get("ctx") or {}, error["loc"]
    if kind == "extra_forbidden":
        return _unknown_key(loc, model or Definition)
    if kind == "missing":
        return "required"
    if kind in ("greater_than_equal", "greater_than"):
        bound = ctx.get("ge", ctx.get("gt"))
        return f"must be at least {bound}" if kind.endswith("equal") else f"must be over {bound}"
    if kind in ("less_than_equal", "less_than"):
        return f"must be at most {ctx.get('le', ctx.get('lt'))}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be a whole number"
    if kind in ("float_type", "float_parsing"):
        return "must be a number"
    if kind == "string_type" and "[key]" in loc:
        return "a key must be a string (quote it)"
    if kind == "string_type":
        return "must be a string (quote it)"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "must be a mapping (key: value lines)"
    if kind == "list_type":
        return "must be a list (- item lines)"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} item(s)"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    if kind == "value_error":
        return str(ctx.get("error") or error["msg"])
    message = error["msg"]
    return message[:1].lower() + message[1:]


def _nested(annotation: Any) -> type[BaseModel] | None:
    """The model a field's annotation holds (``Retry | None``, ``list[Step]``, ``dict[str,
    InputField]``), if any."""
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _nested(arg)
        if found is not None:
            return found
    return None


def _allowed(loc: tuple, root: type[BaseModel]) -> list[str]:
    """The keys that the mapping holding ``loc``'s last key takes: the model reached by
    walking ``loc`` through the fields' annotations (a mapping's own keys and list
    indexes are stepped over)."""
    model = root
    for part in loc[:-1]:
        if not isinstance(part, str):
            continue
        fields = {f.alias or n: f for n, f in model.model_fields.items()}
        if part in fields:
            model = _nested(fields[part].annotation) or model
    return [f.alias or n for n, f in model.model_fields.items()]


def _unknown_key(loc: tuple, model: type[BaseModel]) -> str:
    key = str(loc[-1])
    allowed = _allowed(loc, model)
    if key == "on":
        where = "retry_on" if "retry_on" in allowed else "retry: retry_on:"
        return (
            f"unknown key 'on': the error codes to retry go under {where} "
            "(YAML 1.1 tools read a bare `on:` as true)"
        )
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key {key!r}{hint} (allowed: {', '.join(allowed)})"
