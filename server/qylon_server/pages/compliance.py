"""The compliance pages of a person being onboarded, reached by signed links
(``links.py``): their checklist (``/p/checklist``), acknowledging a policy
(``/p/acknowledge``: the document, then "I have read and accept") and uploading evidence
(``/p/evidence``).

A link is bound to its purpose, the organisation and the person; the acknowledge and
evidence links also to one item, which must be that person's. Forms post back to their
own address with the token (``?t=``): the signed token is what a cross-site forger lacks,
so it is the CSRF protection. A link whose item is done already gets a page saying so
(reuse acts once); a tampered or expired one gets ``link_problem``'s page.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from .. import links
from ..errors import ApiError
from ..models import ComplianceItem, Organisation, User
from ..services import compliance
from ..tenancy import org_session
from . import link_problem, once_through, read_link, render

router = APIRouter(include_in_schema=False)
MAX_UPLOAD = 6 * 1024 * 1024  # the policy's own limit (5 MiB at most) is checked after


@contextmanager
def _person(request: Request, link: links.Link):
    """The session of the link's organisation and its person (None if gone)."""
    with org_session(request.app.state.db, link.org_id) as session:
        user = session.get(User, link.user_id)
        if user is not None and user.status == "deactivated":
            user = None
        yield session, user


def _item(session, link: links.Link) -> ComplianceItem | None:
    """The link's item, when it is the person's and not withdrawn (it needs nothing)."""
    row = session.get(ComplianceItem, link.subject) if link.subject else None
    if row is None or row.user_id != link.user_id or row.status == "withdrawn":
        return None
    return row


def _org_name(session, org_id: str) -> str:
    org = session.get(Organisation, org_id)
    return org.name if org else "Qylon"


def _invalid() -> HTMLResponse:
    return link_problem(links.LinkInvalid("no such item"))


def item_link(request: Request, purpose: str, row: ComplianceItem) -> str:
    settings = request.app.state.settings
    token = links.sign(settings, links.Link(purpose, row.org_id, row.user_id, row.id))
    return f"/p/{purpose}?t={quote(token)}"


@router.get("/p/checklist", response_class=HTMLResponse)
def checklist(request: Request):
    link = read_link(request.app.state.settings, request, purpose="checklist")
    if not isinstance(link, links.Link):
        return link
    with _person(request, link) as (session, user):
        if user is None:
            return _invalid()
        items = [  # a withdrawn item needs nothing from them
            i for i in compliance.status(session, user_id=user.id) if i["status"] != "withdrawn"
        ]
        for entry, row in zip(items, _rows(session, items), strict=True):
            entry["url"] = _course(session, row)
            purpose = "acknowledge" if row.evidence.get("type") == "acknowledgement" else "evidence"
            entry["href"] = item_link(request, purpose, row) if row.status != "completed" else None
        done = sum(1 for i in items if i["status"] == "completed")
        return render(
            "checklist.html",
            title="Your onboarding checklist",
            org_name=_org_name(session, link.org_id),
            person=user.display_name or user.email,
            items=items,
            done=done,
        )


def _course(session, row: ComplianceItem) -> str | None:
    """Where a training is (its ``url:``), when it is a web address."""
    from ..models import CompliancePolicy

    item = compliance.parse(session.get(CompliancePolicy, row.policy_id)).item(row.item_key)
    url = item.url if item else None
    return url if url and url.startswith(("https://", "http://")) else None


def _rows(session, items: list[dict]) -> list[ComplianceItem]:
    return [session.get(ComplianceItem, i["id"]) for i in items]


def _done_page(request, session, link, row, message: str, status_code=200) -> HTMLResponse:
    back = links.sign(
        request.app.state.settings, links.Link("checklist", link.org_id, link.user_id)
    )
    return render(
        "item_done.html",
        status_code,
        title=row.title,
        org_name=_org_name(session, link.org_id),
        message=message,
        checklist=f"/p/checklist?t={quote(back)}",
        sha256=row.evidence_sha256,
    )


def _item_page(request: Request, purpose: str):
    return read_link(request.app.state.settings, request, purpose=purpose)


@router.get("/p/acknowledge", response_class=HTMLResponse)
def acknowledge_form(request: Request):
    link = _item_page(request, "acknowledge")
    if not isinstance(link, links.Link):
        return link
    with _person(request, link) as (session, user):
        row = _item(session, link) if user else None
        if row is None or row.evidence.get("type") != "acknowledgement":
            return _invalid()
        if row.status == "completed":
            return _done_page(
                request, session, link, row, "You have already acknowledged this policy."
            )
        return render(
            "acknowledge.html",
            title=row.title,
            org_name=_org_name(session, link.org_id),
            document=paragraphs(compliance.document_of(session, row)),
            due_date=row.due_date,
            action=f"/p/acknowledge?t={quote(request.query_params['t'])}",
        )


@router.post("/p/acknowledge", response_class=HTMLResponse)
async def acknowledge(request: Request):
    link = _item_page(request, "acknowledge")
    if not isinstance(link, links.Link):
        return link
    form = await request.form()
    accepted = form.get("accept") == "yes"
    return await run_in_threadpool(once_through, lambda: _acknowledge(request, link, accepted))


def _acknowledge(request: Request, link: links.Link, accepted: bool) -> HTMLResponse:
    with _person(request, link) as (session, user):
        row = _item(session, link) if user else None
        if row is None or row.evidence.get("type") != "acknowledgement":
            return _invalid()
        if row.status == "completed":
            return _done_page(
                request, session, link, row, "You have already acknowledged this policy.", 409
            )
        if not accepted:
            return render(
                "acknowledge.html",
                422,
                title=row.title,
                org_name=_org_name(session, link.org_id),
                document=paragraphs(compliance.document_of(session, row)),
                due_date=row.due_date,
                action=f"/p/acknowledge?t={quote(request.query_params['t'])}",
                error="Tick “I have read and accept” to acknowledge the policy.",
            )
        actor = compliance.PersonActor(link.org_id, user, ip=_ip(request))
        compliance.complete(session, actor, row, via="page")
        return _done_page(
            request, session, link, row, "Thank you: your acknowledgement is recorded."
        )


def paragraphs(document: str) -> list[list[str]]:
    """The document as paragraphs (blank lines between them) of lines; an indented line
    goes on the line before it (text wrapped in the YAML), so it reflows on a phone."""
    out: list[list[str]] = []
    for block in re.split(r"\n\s*\n", document.strip()):
        lines: list[str] = []
        for line in block.splitlines():
            if lines and line[:1].isspace():
                lines[-1] += " " + line.strip()
            else:
                lines.append(line.strip())
        out.append(lines)
    return out


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.get("/p/evidence", response_class=HTMLResponse)
def evidence_form(request: Request):
    link = _item_page(request, "evidence")
    if not isinstance(link, links.Link):
        return link
    with _person(request, link) as (session, user):
        row = _item(session, link) if user else None
        if row is None or row.evidence.get("type") != "file":
            return _invalid()
        if row.status == "completed":
            return _done_page(
                request, session, link, row, "Your evidence for this item is already in."
            )
        return _evidence_page(request, session, link, row)


def _evidence_page(request, session, link, row, error: str | None = None, status_code=200):
    return render(
        "evidence.html",
        status_code,
        title=row.title,
        org_name=_org_name(session, link.org_id),
        description=row.evidence.get("description"),
        accept=",".join(row.evidence.get("content_types") or []),
        max_mb=round((row.evidence.get("max_bytes") or 0) / 1024 / 1024, 1),
        due_date=row.due_date,
        action=f"/p/evidence?t={quote(request.query_params['t'])}",
        error=error,
    )


@router.post("/p/evidence", response_class=HTMLResponse)
async def evidence(request: Request):
    link = _item_page(request, "evidence")
    if not isinstance(link, links.Link):
        return link
    form = await request.form(max_files=1, max_fields=5, max_part_size=MAX_UPLOAD)
    upload = form.get("file")
    content = await upload.read(MAX_UPLOAD + 1) if hasattr(upload, "read") else None
    return await run_in_threadpool(once_through, lambda: _evidence(request, link, upload, content))


def _evidence(request: Request, link: links.Link, upload, content: bytes | None) -> HTMLResponse:
    with _person(request, link) as (session, user):
        row = _item(session, link) if user else None
        if row is None or row.evidence.get("type") != "file":
            return _invalid()
        if row.status == "completed":
            return _done_page(
                request, session, link, row, "Your evidence for this item is already in.", 409
            )
        if not content:
            return _evidence_page(request, session, link, row, "Choose a file to upload.", 422)
        actor = compliance.PersonActor(link.org_id, user, ip=_ip(request))
        try:
            compliance.complete(
                session,
                actor,
                row,
                content=content,
                content_type=upload.content_type,
                filename=upload.filename,
                via="page",
            )
        except ApiError as exc:  # refused before anything was written
            return _evidence_page(request, session, link, row, exc.message, exc.status)
        return _done_page(request, session, link, row, "Thank you: your evidence is recorded.")
