"""Email sequences of an organisation: upload (versioned, with their templates) and the
workflow definition each compiles to.

A sequence runs as one workflow run per person (``onboarding.NAME``, the sequence's
version): for each email three steps, ``NAME_plan`` (``onboarding.plan``: when it is
due, checkpointed, so a restarted run waits for the same time), ``NAME_wait`` (a
``sleep_until`` that time: the engine's durable wait, which the signal ``clock`` ends
early) and ``NAME`` (``onboarding.send``: the conditions, unsubscriptions and bounces
checked at send time, then the email, whose Message-ID is ``<RUN.NAME@DOMAIN>``), then
``finish``. The compiled text is stored as a workflow definition like any other.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from qylon_cli.sequence_defs import Sequence, check

from ..errors import ApiError
from ..models import EmailSequence
from ..services import audit, email_render, versions
from . import service as workflows

RETRY_PLAN = {"max_attempts": 5, "initial_interval": "5s", "retry_on": ["unavailable"]}
RETRY_SEND = {
    "max_attempts": 8,
    "initial_interval": "30s",
    "backoff_rate": 2,
    "max_interval": "30m",
    "retry_on": ["unavailable"],
}


def workflow_name(sequence: str) -> str:
    return f"onboarding.{sequence}"


def compile_definition(sequence: Sequence) -> str:
    """The workflow definition (YAML text; JSON is YAML) a sequence runs as."""
    common = {
        "user_id": "{{ input.user_id }}",
        "sequence": sequence.name,
        "version": sequence.version,
    }
    steps: list[dict] = []
    previous = None
    for step in sequence.steps:
        plan, go = f"{step.name}_plan", f"steps.{step.name}_plan.output.go"
        after = f"{{{{ steps.{previous}_plan.output.due }}}}" if previous else None
        steps += [
            {
                "name": plan,
                "action": "onboarding.plan",
                "with": {**common, "step": step.name, "after": after},
                "retry": RETRY_PLAN,
            },
            {
                "name": f"{step.name}_wait",
                "if": go,
                "sleep_until": f"{{{{ steps.{plan}.output.due }}}}",
            },
            {
                "name": step.name,
                "if": go,
                "action": "onboarding.send",
                "with": {**common, "step": step.name},
                "retry": RETRY_SEND,
            },
        ]
        previous = step.name
    steps.append({"name": "finish", "action": "onboarding.finish", "with": common})
    definition = {
        "name": workflow_name(sequence.name),
        "version": sequence.version,
        "description": f"Email sequence {sequence.name} v{sequence.version} (compiled)",
        "input": {
            "user_id": {"type": "string", "required": True},
            "email": {"type": "string", "required": True},
        },
        "subject": "{{ input.email }}",
        "steps": steps,
    }
    return json.dumps(definition, indent=1)


def _invalid(message: str, errors: list[dict] | None = None) -> ApiError:
    err = ApiError(422, message, code="sequence_invalid", hint="See docs/onboarding.md.")
    err.details = {"errors": errors or []}
    return err


def parse(text: str, templates: dict[str, str], source: str = "upload") -> Sequence:
    """The sequence in ``text``, its templates checked; 422 naming every problem."""
    checked = check(text, source)
    if not checked.valid:
        lines = [p.format(source) for p in checked.problems]
        raise _invalid("\n".join(lines[:20]), [vars(p) for p in checked.problems])
    sequence = checked.definition
    problems = []
    for name in sequence.templates:
        if name not in templates:
            problems.append({"line": None, "field": f"templates.{name}", "message": "missing"})
            continue
        try:
            email_render.check(templates[name])
        except email_render.TemplateInvalid as exc:
            problems.append(
                {"line": exc.line, "field": f"templates.{name}", "message": exc.message}
            )
    if problems:
        shown = [
            f"{p['field'].removeprefix('templates.')}.md.j2"
            + (f":{p['line']}" if p["line"] else "")
            + f": {p['message']}"
            for p in problems
        ]
        raise _invalid("\n".join(shown), problems)
    return sequence


def upload(
    session: Session, principal, *, text: str, templates: dict[str, str]
) -> tuple[EmailSequence, bool]:
    """Store a sequence version and its templates, and the workflow it compiles to;
    (row, created). A version is stored once: the same content again changes nothing."""
    sequence = parse(text, templates)
    used = {name: templates[name] for name in sequence.templates}
    digest = hashlib.sha256(
        json.dumps({"text": text, "templates": used}, sort_keys=True).encode()
    ).hexdigest()
    same = versions.stored(
        session, EmailSequence, name=sequence.name, version=sequence.version, digest=digest
    )
    if same is not None:
        return same, False
    row = EmailSequence(
        name=sequence.name,
        version=sequence.version,
        sha256=digest,
        description=sequence.description,
        text=text,
        templates=used,
        created_by=principal.user.id,
    )
    session.add(row)
    session.flush()
    workflows.upload(session, principal, text=compile_definition(sequence))
    audit.record(
        session,
        principal,
        "onboarding.sequence.upload",
        target_type="email_sequence",
        target_id=row.id,
        detail={"name": row.name, "version": row.version, "sha256": digest},
    )
    return row, True


def find(session: Session, name: str, version: int | None = None) -> EmailSequence | None:
    stmt = select(EmailSequence).where(EmailSequence.name == name)
    if version is not None:
        stmt = stmt.where(EmailSequence.version == version)
    return session.scalar(stmt.order_by(EmailSequence.version.desc()).limit(1))


@lru_cache(maxsize=64)
def _parsed(text: str) -> Sequence:
    checked = check(text, "stored")
    if not checked.valid:
        raise ValueError(checked.problems[0].format("stored"))
    return checked.definition


def load(row: EmailSequence) -> Sequence:
    """A stored version's sequence (it was checked at upload)."""
    return _parsed(row.text)
