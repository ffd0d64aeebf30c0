"""The unsubscribe page (``/p/unsubscribe?t=TOKEN``), reached from the link every
onboarding email carries: GET shows a button, POST unsubscribes (also RFC 8058's
one-click POST that mail clients send for ``List-Unsubscribe-Post``). A reused link says
the address is already unsubscribed. Unsubscribing is an event (``onboarding.unsubscribed``);
the person's running onboardings stop, and every send checks the address first."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select

from .. import links
from ..events import domain
from ..events import onboarding as events
from ..models import MailSuppression, Onboarding, Organisation, User
from ..services import audit
from ..tenancy import org_session
from . import link_problem, once_through, read_link, render

router = APIRouter(include_in_schema=False)
PURPOSE = "unsubscribe"


def _page(request: Request, *, act: bool):
    settings = request.app.state.settings
    link = read_link(settings, request, purpose=PURPOSE)
    if not isinstance(link, links.Link):
        return link
    return once_through(lambda: _answer(request, link, act=act))


def _answer(request: Request, link: links.Link, *, act: bool):
    with org_session(request.app.state.db, link.org_id) as session:
        user = session.get(User, link.user_id)
        org = session.get(Organisation, link.org_id)
        if user is None or org is None:  # a person since removed: never another's data
            return link_problem(links.LinkInvalid("no such person"))
        already = session.get(MailSuppression, (link.org_id, user.email))
        state = "confirm"
        if already is not None and already.reason == "unsubscribed":
            state = "already"
        elif act:
            _unsubscribe(session, user, link)
            state = "done"
        return render(
            "unsubscribe.html",
            title="Unsubscribe" if state == "confirm" else "Unsubscribed",
            state=state,
            email=user.email,
            org_name=org.name,
            token=request.query_params.get("t", ""),
        )


def _unsubscribe(session, user: User, link: links.Link) -> None:
    events.record(session, None, user.id, domain.OnboardingUnsubscribed, {"email": user.email})
    running = session.scalars(
        select(Onboarding).where(Onboarding.user_id == user.id, Onboarding.status == "running")
    )
    for row in list(running):
        events.record(
            session,
            None,
            user.id,
            domain.OnboardingStopped,
            {"sequence": row.sequence, "reason": "unsubscribed"},
        )
    audit.record(
        session,
        None,
        "onboarding.unsubscribe",
        target_type="user",
        target_id=user.id,
        detail={"email": user.email, "sequence": link.subject},
    )


@router.get("/p/unsubscribe")
def unsubscribe_page(request: Request):
    return _page(request, act=False)


@router.post("/p/unsubscribe")
def unsubscribe(request: Request):
    """The button's POST, and RFC 8058's one-click POST (List-Unsubscribe=One-Click)."""
    return _page(request, act=True)
