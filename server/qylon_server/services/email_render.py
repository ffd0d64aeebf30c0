"""Email templates (``config/email/NAME.md.j2``): a ``subject:`` header, then Markdown
with Jinja2 placeholders, rendered in Jinja2's sandbox, then to HTML (markdown-it-py,
CommonMark with raw HTML escaped) and to plain text, for one multipart/alternative
message. Every message gets a footer with its signed unsubscribe link.

The context a template sees: ``person`` and ``manager`` (``email``, ``first_name``,
``last_name``, ``name``, ``title``, ``team``, ``start_date``; ``manager`` is None when
the person has none), ``org`` (``name``), ``sequence`` (``name``, ``step``) and
``links`` (``unsubscribe``, ``checklist``).
"""

from __future__ import annotations

import html as htmllib
import re
from dataclasses import dataclass
from functools import lru_cache

MAX_BYTES = 64 * 1024
_FRONT = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*\r?\n", re.DOTALL)
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


class TemplateInvalid(Exception):
    """A template that cannot be used: ``line`` (1-based, in the file) when known."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message, self.line = message, line


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def split(source: str) -> tuple[str, str, int]:
    """(subject template, body template, the body's first line in the file)."""
    match = _FRONT.match(source)
    if not match:
        raise TemplateInvalid("a template starts with a ---/subject: .../--- header", 1)
    subject = None
    for number, line in enumerate(match[1].splitlines(), start=2):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, _, value = line.partition(":")
        if key.strip() != "subject":
            raise TemplateInvalid(f"unknown header {key.strip()!r} (only subject:)", number)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        subject = value
    if not subject:
        raise TemplateInvalid("the header needs a subject:", 2)
    return subject, source[match.end() :], match[0].count("\n") + 1


@lru_cache(maxsize=1)
def _env():
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    # StrictUndefined: a misspelt name fails the check at upload instead of vanishing
    return ImmutableSandboxedEnvironment(
        autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True
    )


@lru_cache(maxsize=256)
def _compiled(source: str):
    from jinja2 import TemplateSyntaxError

    subject, body, first = split(source)
    try:
        return _env().from_string(subject), _env().from_string(body)
    except TemplateSyntaxError as exc:
        line = (exc.lineno or 1) + first - 1 if exc.lineno else None
        raise TemplateInvalid(f"template syntax: {exc.message}", line) from None


@lru_cache(maxsize=1)
def _markdown():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


def _plain(markdown: str) -> str:
    """The Markdown as a plain-text part: links written out, emphasis marks dropped."""
    text = _LINK.sub(lambda m: f"{m[1]} <{m[2]}>", markdown)
    text = re.sub(r"\*\*(.+?)\*\*", r"\1", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def render(source: str, context: dict) -> Rendered:
    """The message of template ``source`` for ``context``; TemplateInvalid when it
    cannot render (a name it uses is not in the context, a syntax error)."""
    from jinja2 import TemplateError, UndefinedError

    subject_t, body_t = _compiled(source)
    try:
        subject = " ".join(subject_t.render(**context).split())
        body = body_t.render(**context)
    except UndefinedError as exc:
        raise TemplateInvalid(f"template: {exc.message}") from None
    except TemplateError as exc:
        raise TemplateInvalid(f"template: {exc}") from None
    unsubscribe = (context.get("links") or {}).get("unsubscribe")
    org = (context.get("org") or {}).get("name") or "Qylon"
    kind = (context.get("mail") or {}).get("kind") or "onboarding"
    text = _plain(body)
    content = _markdown().render(body)
    if unsubscribe:
        text += f"\n--\nYou get these emails from {org}'s {kind}.\nUnsubscribe: {unsubscribe}\n"
        content += (
            '<hr><p style="font-size:12px;color:#666">You get these emails from '
            f"{htmllib.escape(org)}&#8217;s {htmllib.escape(kind)}. "
            f'<a href="{htmllib.escape(unsubscribe)}">Unsubscribe</a></p>'
        )
    page = (
        '<!doctype html><html><head><meta charset="utf-8"></head>'
        '<body style="font-family:system-ui,sans-serif;line-height:1.5;max-width:40rem">'
        f"{content}</body></html>"
    )
    return Rendered(subject=subject[:300], text=text, html=page)


SAMPLE = {
    "person": {
        "email": "ana.lima@firm.example",
        "first_name": "Ana",
        "last_name": "Lima",
        "name": "Ana Lima",
        "title": "Consultant",
        "team": "Advisory",
        "start_date": "2026-12-07",
    },
    "manager": {
        "email": "bo.chen@firm.example",
        "first_name": "Bo",
        "last_name": "Chen",
        "name": "Bo Chen",
        "title": None,
        "team": None,
        "start_date": None,
    },
    "org": {"name": "Firm"},
    "sequence": {"name": "new-consultant", "step": "welcome"},
    "links": {
        "unsubscribe": "https://qylon.example/p/unsubscribe?t=sample",
        "checklist": "https://qylon.example/p/checklist?t=sample",
    },
}


def check(source: str) -> None:
    """Raise TemplateInvalid unless ``source`` renders (with a sample person)."""
    if len(source.encode()) > MAX_BYTES:
        raise TemplateInvalid(f"larger than {MAX_BYTES // 1024} KiB")
    render(source, SAMPLE)
