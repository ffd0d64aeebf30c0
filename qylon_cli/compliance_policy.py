"""Compliance policies: the model, its JSON Schema, and checking a YAML file with errors
that name the file, the line and the field (``gdpr.yaml:14: items[2].due: ...``).

A policy lists the items people must complete (acknowledge a document, finish a
training, upload a certificate, enable a second factor), whom each applies to (roles,
teams, groups, clients), its deadline relative to the person's start date, the evidence
it needs and the frameworks it counts for; and an escalation ladder (notify the person
when an item is overdue by N days, then their manager). Shipped examples are in
``config/compliance/``; docs/compliance.md describes the format.

The YAML is read as workflow definitions are (``workflow_yaml``: YAML 1.2 core schema,
duplicate keys refused, lines of fields) and errors are worded by the same code
(``workflow_defs``): there is one loader.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError, WithJsonSchema

from . import workflow_defs
from .errors import InvalidInput
from .workflow_defs import (
    Checked,
    Problem,
    Strict,
    WorkflowName,
)

FRAMEWORKS = ("GDPR", "ISO 27001", "SOC 2", "HIPAA")
KINDS = ("acknowledge", "training", "certificate", "second_factor")
ROLES = ("member", "manager", "admin", "owner")
FILE_TYPES = ["application/pdf", "image/png", "image/jpeg", "text/plain"]
MAX_EVIDENCE_BYTES = 5 * 1024 * 1024
_DAYS = re.compile(r"^(0|[1-9][0-9]{0,2})d$")


def days(value: str) -> int:
    """``"7d"`` → 7."""
    return int(value[:-1])


def _days(value: str) -> str:
    if not _DAYS.match(value):
        raise ValueError(f"{value!r} is not a number of days, e.g. 0d, 7d or 30d (at most 999d)")
    return value


Days = Annotated[
    str,
    AfterValidator(_days),
    WithJsonSchema({"type": "string", "pattern": _DAYS.pattern, "description": "Days, e.g. 7d."}),
]
ItemId = Annotated[
    str,
    Field(max_length=64, pattern=r"^[a-z][a-z0-9_-]*$"),
]
Framework = Literal["GDPR", "ISO 27001", "SOC 2", "HIPAA"]


class AppliesTo(Strict):
    """Whom an item applies to: a person matches when any list names their role, team,
    one of their groups, or one of their clients. No list: everyone."""

    roles: list[Literal["member", "manager", "admin", "owner"]] | None = None
    teams: list[str] | None = None
    groups: list[str] | None = None
    clients: list[str] | None = None


class Evidence(Strict):
    """What completes an item: ``acknowledgement`` (the person accepts the document on
    their page; the document's hash is the evidence) or ``file`` (an upload of one of
    ``content_types``, at most ``max_bytes``)."""

    type: Literal["acknowledgement", "file"]
    description: str | None = Field(None, max_length=500)
    content_types: list[str] = Field(default_factory=lambda: list(FILE_TYPES), min_length=1)
    max_bytes: int = Field(2 * 1024 * 1024, ge=1, le=MAX_EVIDENCE_BYTES)


class Item(Strict):
    """One thing a person must complete, ``due`` days after their start date."""

    id: ItemId
    title: str = Field(min_length=1, max_length=200)
    kind: Literal["acknowledge", "training", "certificate", "second_factor"]
    description: str | None = Field(None, max_length=2000)
    document: str | None = Field(
        None, max_length=100_000, description="The text to acknowledge (kind acknowledge)."
    )
    url: str | None = Field(None, max_length=2000, description="Where the training is.")
    due: Days
    frameworks: list[Framework] | None = None
    applies_to: AppliesTo | None = None
    evidence: Evidence | None = None

    def needs(self) -> Evidence:
        if self.evidence is not None:
            return self.evidence
        kind = "acknowledgement" if self.kind == "acknowledge" else "file"
        return Evidence(type=kind)


class Rung(Strict):
    """One step of the escalation ladder: when an item is ``after`` days overdue, email
    the ``person`` or their ``manager``."""

    after: Days
    notify: Literal["person", "manager"]


class Policy(Strict):
    """A compliance policy (config/compliance/*.yaml)."""

    name: WorkflowName
    version: int = Field(ge=1)
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    frameworks: list[Framework] = Field(min_length=1)
    escalation: list[Rung] = Field(default_factory=list, max_length=10)
    items: list[Item] = Field(min_length=1, max_length=200)

    def frameworks_of(self, item: Item) -> list[str]:
        return list(item.frameworks or self.frameworks)

    def item(self, key: str) -> Item | None:
        return next((i for i in self.items if i.id == key), None)


def json_schema() -> dict:
    schema = Policy.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


class PolicyInvalid(InvalidInput):
    """A policy has errors; ``details["errors"]`` lists them."""

    code = "policy_invalid"

    def __init__(self, message: str, *, hint: str | None = None, details: dict | None = None):
        super().__init__(message, hint=hint)
        self.details = details or {}

    def to_dict(self) -> dict:
        return {**super().to_dict(), **self.details}


def _across(policy: Policy) -> list[tuple[tuple, str]]:
    """Rules between fields: unique ids, a document to acknowledge, the right evidence."""
    found: list[tuple[tuple, str]] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(policy.items):
        if item.id in seen:
            found.append((("items", index, "id"), f"{item.id!r} is used by items[{seen[item.id]}]"))
        seen.setdefault(item.id, index)
        needs = item.needs()
        if item.kind == "acknowledge" and not (item.document or "").strip():
            found.append((("items", index, "document"), "an acknowledge item needs the document"))
        if item.kind == "acknowledge" and needs.type != "acknowledgement":
            found.append((("items", index, "evidence", "type"), "must be acknowledgement"))
        if item.kind != "acknowledge" and needs.type != "file":
            found.append((("items", index, "evidence", "type"), f"a {item.kind} item needs file"))
    afters = [days(r.after) for r in policy.escalation]
    if afters != sorted(afters):
        found.append((("escalation",), "rungs must be in order of their after: days"))
    return found


def check(data: bytes | str, source: str = "<text>") -> Checked:
    """Check a policy's text; every problem found, with its line and field (the workflow
    definitions' checker, with the policy's model and its rules between fields)."""
    return workflow_defs.check(
        data,
        source,
        model=Policy,
        across=_across_valid,
        what="a policy is a mapping (name:, version:, items:)",
    )


def _across_valid(data: dict) -> list[tuple[tuple, str]]:
    """``_across`` on a document the model accepts (its own errors are reported already)."""
    try:
        return _across(Policy.model_validate(data))
    except ValidationError:
        return []


def check_file(path: Path | str) -> Checked:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return Checked(source=str(path), problems=[Problem(None, None, f"cannot read: {exc}")])
    return check(data, str(path))


def load(data: bytes | str, source: str = "<text>") -> Policy:
    """The policy in ``data``; PolicyInvalid naming every problem when it has any."""
    checked = check(data, source)
    if checked.valid:
        return checked.definition
    lines = [p.format(source) for p in checked.problems]
    raise PolicyInvalid(
        "\n".join(lines[:20]) + (f"\n... and {len(lines) - 20} more" if len(lines) > 20 else ""),
        hint="See docs/compliance.md for the format.",
        details={"errors": [vars(p) for p in checked.problems]},
    )


def applies(item: Item, person: dict[str, Any]) -> bool:
    """Whether ``item`` applies to ``person`` ({role, team, groups, clients})."""
    rule = item.applies_to
    if rule is None or all(v is None for v in (rule.roles, rule.teams, rule.groups, rule.clients)):
        return True
    fold = lambda values: {str(v).casefold() for v in values or ()}
    return bool(
        (rule.roles and person.get("role") in rule.roles)
        or (rule.teams and (person.get("team") or "").casefold() in fold(rule.teams))
        or (rule.groups and fold(person.get("groups")) & fold(rule.groups))
        or (rule.clients and fold(person.get("clients")) & fold(rule.clients))
    )
