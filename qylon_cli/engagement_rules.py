"""Re-engagement rules: the model, its JSON Schema, and checking a YAML file with errors
that name the file, the line and the field, with the workflow definitions' machinery
(YAML 1.2, duplicate keys, line numbers: ``workflow_defs``, ``workflow_yaml``).

Shared by the CLI (``qylon onboarding rules validate``, offline) and the team server,
which evaluates them. Docs: docs/onboarding-risk.md.
"""

from __future__ import annotations

import difflib
import hashlib

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .workflow_defs import (
    MAX_BYTES,
    Checked,
    Duration,
    Problem,
    Strict,
    WorkflowInvalid,
    WorkflowName,
    _message,
    field_path,
)


class Conditions(Strict):
    """What must all hold of a person for the rule to match (at least one condition)."""

    during_onboarding: Duration | None = Field(
        None, description="They started (start date, else account creation) within this."
    )
    no_activity_for: Duration | None = Field(
        None,
        description="No activity (sign-in, meeting, closed action item) for this long "
        "(counted from their start when they have none).",
    )
    meetings_recorded_within: Duration | None = Field(
        None, description="At least one meeting of theirs synced within this."
    )
    no_action_item_closed_for: Duration | None = Field(
        None, description="No action item closed by them within this."
    )
    score_below: float | None = Field(
        None, ge=0, description="Their engagement score is below this."
    )

    @model_validator(mode="after")
    def _some(self) -> Conditions:
        if all(v is None for v in self.model_dump().values()):
            raise ValueError("give at least one condition")
        return self


class Nudge(Strict):
    """The workflow a match starts (uploaded with `qylon workflows upload`)."""

    workflow: WorkflowName
    input: dict = Field(
        default_factory=dict,
        description="More input for the run, beside email, rule and reasons (which Qylon gives).",
    )
    cap_per_week: int = Field(
        1, ge=1, le=50, description="At most this many of this rule's nudges per person in 7 days."
    )


class Rule(Strict):
    """A re-engagement rule (config/engagement/*.yaml)."""

    model_config = ConfigDict(title="Qylon re-engagement rule")

    name: WorkflowName
    version: int = Field(ge=1)
    description: str | None = Field(None, max_length=500)
    enabled: bool = True
    risk: int = Field(1, ge=1, le=100, description="Its weight in `onboarding at-risk`.")
    when: Conditions
    nudge: Nudge | None = None


def json_schema() -> dict:
    """The published JSON Schema of a rule (docs/engagement-rule.schema.json)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **Rule.model_json_schema(by_alias=True),
    }


_NESTED: dict[str, type[BaseModel]] = {"when": Conditions, "nudge": Nudge}


def _explain(error: dict) -> str:
    loc = error["loc"]
    if error["type"] != "extra_forbidden":
        return _message(error)
    model: type[BaseModel] = Rule
    for part in loc[:-1]:
        model = _NESTED.get(part, model) if isinstance(part, str) else model
    allowed = list(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key {loc[-1]!r}{hint} (allowed: {', '.join(allowed)})"


def check(data: bytes | str, source: str = "<text>") -> Checked:
    """Check a rule's text: every problem, with its line and field (``Checked.definition``
    holds the ``Rule`` when it is valid)."""
    from . import workflow_yaml

    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    result = Checked(source=source, sha256=hashlib.sha256(raw).hexdigest())
    if len(raw) > MAX_BYTES:
        result.problems.append(Problem(None, None, f"larger than {MAX_BYTES // 1024} KiB"))
        return result
    try:
        document = workflow_yaml.parse(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        result.problems.append(Problem(None, None, "not UTF-8 text (save the file as UTF-8)"))
        return result
    except workflow_yaml.YamlProblem as exc:
        result.problems.append(Problem(exc.line, None, exc.message))
        return result
    if document is None or not isinstance(document.data, dict):
        result.problems.append(Problem(None, None, "a rule is a mapping (name:, version:, when:)"))
        return result
    for path, line, first in workflow_yaml.duplicate_keys(document.root):
        result.problems.append(
            Problem(line, field_path(path), f"given twice (first on line {first})")
        )
    result.name = document.data.get("name") if isinstance(document.data.get("name"), str) else None
    version = document.data.get("version")
    result.version = version if isinstance(version, int) and not isinstance(version, bool) else None
    try:
        result.definition = Rule.model_validate(document.data)
    except ValidationError as exc:
        for e in exc.errors():
            line = workflow_yaml.line_of(document.root, e["loc"])
            result.problems.append(Problem(line, field_path(e["loc"]), _explain(e)))
    result.problems.sort(key=lambda p: p.line or 0)
    return result


def load(data: bytes | str, source: str = "<text>") -> Rule:
    """The rule in ``data``; WorkflowInvalid (exit 3) naming every problem when it has any."""
    checked = check(data, source)
    if checked.valid:
        return checked.definition
    lines = [p.format(source) for p in checked.problems]
    raise WorkflowInvalid(
        "\n".join(lines[:20]),
        hint="See docs/onboarding-risk.md for the format.",
        details={"errors": [vars(p) for p in checked.problems]},
    )
