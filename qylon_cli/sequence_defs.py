"""Email sequences (issue 20): the model of ``config/sequences/*.yaml`` and its checks.

A sequence is a list of emails, each sent some business days after the one before (in
the person's time zone, at a local hour), skipped or ending the sequence on conditions
("completed item X"). It is read with the workflow definitions' machinery
(``workflow_defs.check``: YAML 1.2, duplicate keys refused, every error with its file,
line and field); the server compiles it to a workflow run (docs/onboarding.md).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .workflow_defs import Checked, Identifier, Strict, WorkflowInvalid, _text
from .workflow_defs import check as check_yaml

SequenceName = _text(
    r"^[a-z][a-z0-9-]*$",
    "a sequence name (lower-case letters, digits and -)",
    "new-consultant",
    max_length=48,
)
TemplateName = _text(
    r"^[a-z][a-z0-9-]*$",
    "a template name: the file config/email/NAME.md.j2",
    "new-consultant-welcome",
)
ItemName = _text(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$", "an item's id", "security-awareness", 100)
LocalTime = _text(r"^([01][0-9]|2[0-3]):[0-5][0-9]$", "a local time (HH:MM, 24 hours)", "09:00", 5)
Country = _text(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$", "a country code (ISO 3166)", "GB or US-CA", 6)


class Condition(Strict):
    """What has happened for the person: a compliance item they completed (its id in
    the policy, e.g. ``security-awareness``)."""

    completed: ItemName


class SequenceStep(Strict):
    """One email of the sequence."""

    name: Identifier
    description: str | None = None
    template: TemplateName
    delay: int = Field(
        0,
        ge=0,
        le=260,
        description="Business days after the step before (after the start for the first).",
    )
    at: LocalTime | None = Field(
        None, description="The local time to send at, in the person's time zone."
    )
    to: Literal["person", "manager"] = "person"
    skip_if: list[Condition] = Field(default_factory=list)
    stop_if: list[Condition] = Field(default_factory=list)


class Sequence(Strict):
    """An email sequence (config/sequences/*.yaml)."""

    model_config = ConfigDict(title="Qylon email sequence")

    name: SequenceName
    version: int = Field(ge=1)
    description: str | None = None
    holidays: Country | None = Field(
        None, description="Skip this country's public holidays (else the organisation's)."
    )
    stop_if: list[Condition] = Field(default_factory=list)
    steps: list[SequenceStep] = Field(min_length=1, max_length=50)

    @property
    def templates(self) -> list[str]:
        return sorted({step.template for step in self.steps})


def json_schema() -> dict:
    """The published JSON Schema of a sequence (docs/sequence.schema.json)."""
    schema = Sequence.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def _across(data: dict) -> list[tuple[tuple, str]]:
    out: list[tuple[tuple, str]] = []
    seen: dict[str, int] = {}
    steps = data.get("steps") if isinstance(data.get("steps"), list) else []
    for index, step in enumerate(steps):
        name = step.get("name") if isinstance(step, dict) else None
        if isinstance(name, str):
            if name == "finish" or name.endswith(("_plan", "_wait")):
                message = f"{name!r} is reserved (finish, and names ending _plan or _wait)"
                out.append((("steps", index, "name"), message))
            if name in seen:
                message = f"duplicate step name {name!r} (first at steps[{seen[name]}])"
                out.append((("steps", index, "name"), message))
            seen.setdefault(name, index)
    return out


def check(data: bytes | str, source: str = "<text>") -> Checked:
    """Every problem of a sequence's text, with its line and field."""
    return check_yaml(
        data,
        source,
        model=Sequence,
        across=_across,
        what="a sequence is a mapping (name:, version:, steps:)",
    )


def load(data: bytes | str, source: str = "<text>") -> Sequence:
    checked = check(data, source)
    if checked.valid:
        return checked.definition
    lines = [p.format(source) for p in checked.problems]
    raise WorkflowInvalid(
        "\n".join(lines[:20]),
        hint="See docs/onboarding.md for the format of a sequence.",
        details={"errors": [vars(p) for p in checked.problems]},
    )


def template_path(sequence_file: Path, name: str) -> Path:
    """Where a sequence file's template ``name`` is: ``../email/NAME.md.j2`` beside
    ``config/sequences/``, else ``email/NAME.md.j2`` beside the file itself."""
    for folder in (sequence_file.parent.parent / "email", sequence_file.parent / "email"):
        candidate = folder / f"{name}.md.j2"
        if candidate.is_file():
            return candidate
    return sequence_file.parent.parent / "email" / f"{name}.md.j2"


class Upload(BaseModel):
    """What ``qylon onboarding sequences upload`` sends: the sequence's text and the text
    of every template it names."""

    text: str = Field(max_length=256 * 1024)
    templates: dict[str, str] = Field(default_factory=dict)


_NAME = re.compile(r"^[a-z][a-z0-9-]*$")


def bundle(path: Path) -> Upload:
    """A sequence file and its templates, read for an upload. Raises WorkflowInvalid."""
    text = path.read_text(encoding="utf-8-sig")
    sequence = load(text, str(path))
    templates = {}
    for name in sequence.templates:
        found = template_path(path, name)
        if not found.is_file():
            raise WorkflowInvalid(
                f"{path}: template {name!r} not found (looked for {found})",
                hint="Templates are config/email/NAME.md.j2 beside config/sequences/.",
            )
        templates[name] = found.read_text(encoding="utf-8-sig")
    return Upload(text=text, templates=templates)
