"""Compliance: policies (uploaded, versioned), assigning their items to people, completing
an item with its evidence, and the status of items. Every change is an event of the
person's ``compliance:<user>`` stream (events/compliance.py keeps ``compliance_items``
from them) and an audit event. Reports are in ``compliance_report.py``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from qylon_cli.compliance_policy import Item, Policy, PolicyInvalid, applies, days, load

from ..errors import ApiError, not_found
from ..events import compliance as projection
from ..events import domain, store
from ..models import ComplianceEvidence, ComplianceItem, CompliancePolicy, User
from . import audit, versions

SNIFF = {  # the first bytes each accepted type must start with
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}


CLOSED = ("completed", "withdrawn")  # statuses that need nothing more


def today() -> date:
    return datetime.now(UTC).date()


@dataclass
class PersonActor:
    """The actor of a change made through a page's signed link: the person, no key."""

    org_id: str
    user: Any
    ip: str | None = None
    key: Any = None
    audit_detail: dict = field(default_factory=lambda: {"via": "link"})

    def __post_init__(self):
        from types import SimpleNamespace

        self.key = SimpleNamespace(id=None)

    def can(self, permission: str) -> bool:
        return permission == "compliance:own"


# ------------------------------------------------------------------------------ policies


def parse(row: CompliancePolicy) -> Policy:
    return load(row.text, f"{row.name} v{row.version}")


def upload(
    session: Session, principal, *, text: str, install: Callable | None = None
) -> tuple[CompliancePolicy, bool]:
    """Store a policy's text; (row, created). As workflow definitions: one text per version,
    versions only grow. ``install(session, principal, policy)`` installs the escalation
    workflow of a policy with a ladder and names it (the routes pass the engine's)."""
    try:
        policy = load(text, "upload")
    except PolicyInvalid as exc:
        raise ApiError(422, exc.message, code="policy_invalid", hint=exc.hint) from None
    digest = hashlib.sha256(text.encode()).hexdigest()
    same = versions.stored(
        session, CompliancePolicy, name=policy.name, version=policy.version, digest=digest
    )
    if same is not None:
        return same, False
    row = CompliancePolicy(
        name=policy.name,
        version=policy.version,
        sha256=digest,
        title=policy.title,
        frameworks=list(policy.frameworks),
        text=text,
        workflow=install(session, principal, policy) if install else None,
        created_by=principal.user.id,
    )
    session.add(row)
    session.flush()
    store.append(
        session,
        principal,
        domain.stream_of("compliance_policy", policy.name),
        domain.CompliancePolicyUploaded,
        {"policy_id": row.id, "name": row.name, "version": row.version, "sha256": digest},
    )
    audit.record(
        session,
        principal,
        "compliance.policy.upload",
        target_type="compliance_policy",
        target_id=row.id,
        detail={"name": row.name, "version": row.version, "sha256": digest},
    )
    return row, True


def find(session: Session, name: str, version: int | None) -> CompliancePolicy | None:
    """Version ``version`` of ``name``, or its newest."""
    stmt = select(CompliancePolicy).where(CompliancePolicy.name == name)
    if version is not None:
        stmt = stmt.where(CompliancePolicy.version == version)
    return session.scalar(stmt.order_by(CompliancePolicy.version.desc()).limit(1))


def policies(session: Session) -> list[CompliancePolicy]:
    return list(
        session.scalars(
            select(CompliancePolicy).order_by(CompliancePolicy.name, CompliancePolicy.version)
        )
    )


# ------------------------------------------------------------------------------ assigning


def select_users(
    session: Session,
    *,
    users: list[str] | None = None,
    team: str | None = None,
    group: str | None = None,
    everyone: bool = False,
) -> list[User]:
    """The people an assignment is for (deactivated users never): by email or id, a team,
    a group, or everyone."""
    stmt = select(User).where(User.status != "deactivated")
    if users:
        wanted = {u.strip().lower() for u in users}
        found = [u for u in session.scalars(stmt) if u.id in wanted or u.email in wanted]
        missing = wanted - {u.id for u in found} - {u.email for u in found}
        if missing:
            raise ApiError(404, f"No active user {', '.join(sorted(missing))}.", code="not_found")
        return found
    if team:
        return [u for u in session.scalars(stmt) if (u.team or "").casefold() == team.casefold()]
    if group:
        key = group.casefold()
        return [u for u in session.scalars(stmt) if key in {g.casefold() for g in u.groups or []}]
    if everyone:
        return list(session.scalars(stmt.order_by(User.email)))
    raise ApiError(422, "Say whom to assign: users, team, group or all.", code="invalid_input")


def _person(user: User, clients: list[str]) -> dict:
    attributes = user.attributes or {}
    theirs = attributes.get("clients") or []
    if isinstance(theirs, str):
        theirs = [c.strip() for c in theirs.split(",") if c.strip()]
    return {
        "role": user.role,
        "team": user.team,
        "groups": user.groups or [],
        "clients": [*theirs, *clients],
    }


def _start(user: User, start: date | None) -> date:
    if start is not None:
        return start
    try:
        return date.fromisoformat(user.start_date) if user.start_date else today()
    except ValueError:
        return today()


def _assigned(row: CompliancePolicy, policy: Policy, item: Item, user: User, start: date):
    return {
        "item_id": str(uuid.uuid4()),
        "user_id": user.id,
        "policy_id": row.id,
        "policy_name": row.name,
        "policy_version": row.version,
        "item_key": item.id,
        "title": item.title,
        "kind": item.kind,
        "frameworks": policy.frameworks_of(item),
        "evidence": item.needs().model_dump(),
        "start_date": start.isoformat(),
        "due_date": (start + timedelta(days=days(item.due))).isoformat(),
    }


def assign(
    session: Session,
    principal,
    *,
    policy: str,
    version: int | None,
    people: list[User],
    start: date | None = None,
    clients: list[str] | None = None,
    escalate: Callable | None = None,
) -> dict:
    """Assign the items of ``policy`` that apply to each of ``people`` (an item a person
    already has under this policy is left as it is); ``escalate(session, principal,
    policy_row, user)`` starts each person's escalation run and names it."""
    row = find(session, policy, version)
    if row is None:
        raise not_found("Compliance policy")
    parsed = parse(row)
    made, unchanged = [], 0
    for user in people:
        have = set(
            session.scalars(
                select(ComplianceItem.item_key).where(
                    ComplianceItem.user_id == user.id, ComplianceItem.policy_name == row.name
                )
            )
        )
        begin = _start(user, start)
        person = _person(user, clients or [])
        new = [
            _assigned(row, parsed, item, user, begin)
            for item in parsed.items
            if applies(item, person) and item.id not in have
        ]
        unchanged += sum(1 for item in parsed.items if item.id in have)
        if not new:
            continue
        run_id = escalate(session, principal, row, user) if escalate and row.workflow else None
        for data in new:
            data["run_id"] = run_id
        rows = projection.record(
            session, principal, user.id, [(domain.ComplianceItemAssigned, d) for d in new]
        )
        made += [describe(r, user) for r in rows]
        audit.record(
            session,
            principal,
            "compliance.assign",
            target_type="user",
            target_id=user.id,
            detail={
                "policy": row.name,
                "version": row.version,
                "items": [d["item_key"] for d in new],
            },
        )
    return {"policy": row.name, "version": row.version, "assigned": made, "unchanged": unchanged}


# ------------------------------------------------------------------------------ status


def overdue_days(row: ComplianceItem, on: date | None = None) -> int:
    """Days past its due date (0 when not overdue, completed or withdrawn)."""
    if row.status in CLOSED:
        return 0
    return max(0, ((on or today()) - date.fromisoformat(row.due_date)).days)


def describe(row: ComplianceItem, user: User | None = None, on: date | None = None) -> dict:
    return {
        "id": row.id,
        "user_id": row.user_id,
        "email": user.email if user else None,
        "policy": row.policy_name,
        "policy_version": row.policy_version,
        "item": row.item_key,
        "title": row.title,
        "kind": row.kind,
        "frameworks": list(row.frameworks or []),
        "evidence": row.evidence,
        "start_date": row.start_date,
        "due_date": row.due_date,
        "status": row.status,
        "overdue_days": overdue_days(row, on),
        "completed_at": row.completed_at.isoformat() if row.completed_at else None,
        "evidence_sha256": row.evidence_sha256,
        "escalations": list(row.escalations or []),
        "run_id": row.run_id,
        "withdrawn_at": row.withdrawn_at.isoformat() if row.withdrawn_at else None,
        "withdrawn_reason": row.withdrawn_reason,
    }


def status(
    session: Session,
    *,
    user_id: str | None = None,
    team: str | None = None,
    overdue: bool = False,
    framework: str | None = None,
    on: date | None = None,
) -> list[dict]:
    """Items (with their person's email), by person then due date."""
    stmt = select(ComplianceItem, User).join(User, User.id == ComplianceItem.user_id)
    if user_id:
        stmt = stmt.where(ComplianceItem.user_id == user_id)
    if overdue:
        stmt = stmt.where(
            ComplianceItem.status.not_in(CLOSED),
            ComplianceItem.due_date < (on or today()).isoformat(),
        )
    rows = session.execute(stmt.order_by(User.email, ComplianceItem.due_date, ComplianceItem.id))
    out = []
    for item, user in rows:
        if team and (user.team or "").casefold() != team.casefold():
            continue
        if framework and framework not in (item.frameworks or []):
            continue
        out.append(describe(item, user, on))
    return out


# ------------------------------------------------------------------------------ completing


def item_for(session: Session, principal, item_id: str) -> ComplianceItem:
    """An item the principal may act on: their own, or anyone's for an admin. Another
    person's item is 'not found' (its existence is not revealed)."""
    row = session.get(ComplianceItem, item_id) if len(item_id) <= 36 else None
    if row is None or (row.user_id != principal.user.id and not principal.can("compliance:admin")):
        raise not_found("Compliance item")
    return row


def document_of(session: Session, row: ComplianceItem) -> str:
    item = parse(session.get(CompliancePolicy, row.policy_id)).item(row.item_key)
    return (item.document or "") if item else ""


def _check_file(row: ComplianceItem, content: bytes, content_type: str) -> str:
    need = row.evidence or {}
    kind = content_type.split(";")[0].strip().lower()
    allowed = need.get("content_types") or []
    if kind not in allowed:
        raise ApiError(
            415,
            f"{kind or 'This file type'} is not accepted for this item.",
            code="unsupported_media_type",
            hint=f"Accepted: {', '.join(allowed)}.",
        )
    if not content:
        raise ApiError(422, "The file is empty.", code="invalid_input")
    if len(content) > int(need.get("max_bytes") or 0):
        raise ApiError(
            413, f"The file is over {need.get('max_bytes')} bytes.", code="payload_too_large"
        )
    magic = SNIFF.get(kind)
    looks = content.startswith(magic) if magic else _is_text(content)
    if not looks:
        raise ApiError(415, f"The file's content is not {kind}.", code="unsupported_media_type")
    return kind


def _is_text(content: bytes) -> bool:
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in content


def complete(
    session: Session,
    principal,
    row: ComplianceItem,
    *,
    content: bytes | None = None,
    content_type: str | None = None,
    filename: str | None = None,
    via: str = "api",
) -> ComplianceItem:
    """Complete ``row`` with its evidence: a file (stored with its SHA-256) or, for an
    acknowledgement, the document accepted (its SHA-256). Completing twice is a 409."""
    if row.status == "completed":
        raise ApiError(409, "This item is already completed.", code="already_completed")
    if row.status == "withdrawn":
        raise ApiError(409, "This item was withdrawn: it needs nothing.", code="withdrawn")
    need = (row.evidence or {}).get("type")
    evidence_id, size, kind = None, None, None
    if need == "acknowledgement":
        if content is not None:
            raise ApiError(
                422,
                "This item is completed by accepting its document, not a file.",
                code="invalid_input",
            )
        digest = hashlib.sha256(document_of(session, row).encode()).hexdigest()
    else:
        if content is None:
            raise ApiError(422, "This item needs a file as evidence.", code="invalid_input")
        kind = _check_file(row, content, content_type or "")
        digest, size = hashlib.sha256(content).hexdigest(), len(content)
        evidence = ComplianceEvidence(
            item_id=row.id,
            user_id=row.user_id,
            sha256=digest,
            content_type=kind,
            size=size,
            filename=(filename or "")[:255] or None,
            content=content,
            created_by=principal.user.id,
        )
        session.add(evidence)
        session.flush()
        evidence_id = evidence.id
    data = {
        "item_id": row.id,
        "policy": row.policy_name,
        "item_key": row.item_key,
        "evidence_sha256": digest,
        "evidence_id": evidence_id,
        "content_type": kind,
        "size": size,
        "via": via,
        "completed_by": principal.user.id,
    }
    projection.record(session, principal, row.user_id, [(domain.ComplianceItemCompleted, data)])
    audit.record(
        session,
        principal,
        "compliance.complete",
        target_type="compliance_item",
        target_id=row.id,
        detail={"item": row.item_key, "policy": row.policy_name, "sha256": digest, "via": via},
    )
    return row
