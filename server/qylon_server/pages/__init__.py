"""Pages for people who have no Qylon CLI yet (issue 20): server-rendered HTML reached
through signed links (``qylon_server.links``), with no JavaScript framework.

``render`` fills a template of ``templates/`` (Jinja2, HTML autoescaped) that extends
``base.html``: one accessible layout (labels, focus outlines, a skip link), readable on a
phone. ``link_or_page`` reads a link's token and turns a tampered, expired or misdirected
link into a clear page instead of an error document; it never shows another person's data.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from fastapi import Request
from fastapi.responses import HTMLResponse

from .. import links
from ..config import ServerSettings
from ..errors import lost_race

TEMPLATES = Path(__file__).with_name("templates")
ATTEMPTS = 3
T = TypeVar("T")


def once_through(answer: Callable[[], T]) -> T:
    """A page's transaction, run again when it lost a race (``errors.lost_race``): a
    person's click must not answer "conflict" because a workflow step appended to the
    same stream at that moment. Each run reads afresh what the other one did."""
    for _ in range(ATTEMPTS - 1):
        try:
            return answer()
        except Exception as exc:
            if not lost_race(exc):
                raise
    return answer()  # the last attempt: whatever it raises is the answer


@lru_cache(maxsize=1)
def _env():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, status_code: int = 200, **context) -> HTMLResponse:
    html = _env().get_template(template).render(**context)
    return HTMLResponse(
        html,
        status_code=status_code,
        headers={
            # a page reached by a secret link: not cached, not framed, not referred onwards
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
        },
    )


def link_problem(exc: links.LinkInvalid) -> HTMLResponse:
    """The page for a link that cannot be used: expired (410) or not valid (400)."""
    if isinstance(exc, links.LinkExpired):
        return render(
            "link_problem.html",
            410,
            title="This link has expired",
            message="Links in Qylon emails work for a limited time. Ask your administrator "
            "for a new one, or use the link in the most recent email you received.",
        )
    return render(
        "link_problem.html",
        400,
        title="This link is not valid",
        message="The link may be incomplete or changed. Open it again from the email, "
        "copying the whole address.",
    )


def read_link(
    settings: ServerSettings, request: Request, *, purpose: str
) -> links.Link | HTMLResponse:
    """The link in the request's ``t`` (query or form), or the page saying why not."""
    token = request.query_params.get("t", "")
    if not token:
        return link_problem(links.LinkInvalid("no token"))
    try:
        return links.read(settings, token, purpose=purpose)
    except links.LinkInvalid as exc:
        return link_problem(exc)
