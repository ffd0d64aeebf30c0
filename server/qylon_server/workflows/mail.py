"""The ``email.send`` action: one message through the server's SMTP relay.

SMTP cannot be exactly once: a message the relay accepted just before the server died
(before DBOS checkpointed the step) is sent again when the run resumes. Every attempt of
a step therefore sends the same ``Message-ID`` (``<RUN.STEP@DOMAIN>``), so mail servers
and readers can tell the copy for what it is, and the step's output names it.
"""

from __future__ import annotations

import smtplib
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import unquote, urlsplit

from . import engine
from .actions import ActionContext, ActionError, action

SCHEMES = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
MAX_RECIPIENTS = 50
TIMEOUT_S = 30.0


def _addresses(args: dict, name: str, *, required: bool) -> list[str]:
    value = args.get(name)
    if value in (None, "", []):
        if required:
            raise ActionError("invalid_input", f"{name} is required")
        return []
    items = [v for v in value.split(",") if v.strip()] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ActionError("invalid_input", f"{name} must be an address or a list of them")
    out = []
    for item in items:
        item = item.strip()
        try:
            Address(addr_spec=item)
        except (ValueError, IndexError) as exc:
            raise ActionError("invalid_input", f"{name}: {item!r} is not an address ({exc})")
        if "@" not in item:
            raise ActionError("invalid_input", f"{name}: {item!r} is not an address")
        out.append(item)
    return out


def _relay(url: str | None = None) -> tuple[str, str, int, str | None, str | None]:
    url = url or engine.settings().smtp_url
    if not url:
        raise ActionError(
            "not_configured",
            "No mail relay: set QYLON_SMTP_URL (e.g. smtp+starttls://user:pass@mail.example:587).",
        )
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise ActionError(
            "not_configured",
            f"QYLON_SMTP_URL must be smtp://, smtp+starttls:// or smtps://HOST[:PORT], "
            f"not {parts.scheme or url!r}.",
        )
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return parts.scheme, parts.hostname, parts.port or SCHEMES[parts.scheme], user, password


def message(ctx: ActionContext, args: dict, sender: str) -> EmailMessage:
    """The message a step sends: the same headers on every attempt (``Message-ID``)."""
    to = _addresses(args, "to", required=True)
    cc = _addresses(args, "cc", required=False)
    if len(to) + len(cc) > MAX_RECIPIENTS:
        raise ActionError("invalid_input", f"at most {MAX_RECIPIENTS} recipients")
    subject, text = args.get("subject"), args.get("text")
    if not isinstance(subject, str) or not subject.strip():
        raise ActionError("invalid_input", "subject is required")
    if not isinstance(text, str):
        raise ActionError("invalid_input", "text is required (the message's plain text)")
    html = args.get("html")
    domain = sender.rpartition("@")[2] or "localhost"
    msg = EmailMessage()
    try:
        msg["From"] = sender
        msg["To"] = ", ".join(to)
        if cc:
            msg["Cc"] = ", ".join(cc)
        if args.get("reply_to"):
            msg["Reply-To"] = ", ".join(_addresses(args, "reply_to", required=False))
        msg["Subject"] = subject.strip()
    except ValueError as exc:  # a line break in a header: never let a step inject headers
        raise ActionError("invalid_input", f"a header is not valid: {exc}") from None
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = f"<{ctx.run_id}.{ctx.step}@{domain}>"
    msg.set_content(text)
    if isinstance(html, str) and html:
        msg.add_alternative(html, subtype="html")
    return msg


@action("email.send")
def send(ctx: ActionContext, args: dict) -> dict:
    """{to, subject, text, html?, cc?, reply_to?} (addresses: a list, or one string with
    commas between them): one message through QYLON_SMTP_URL,
    from QYLON_MAIL_FROM, with a Message-ID that is the same on every attempt."""
    settings = engine.settings()
    msg = message(ctx, args, settings.mail_from)
    refused = deliver(ctx, msg)
    to = [a.strip() for a in msg["To"].split(",")]
    return {
        "message_id": msg["Message-ID"],
        "to": to,
        "refused": sorted(refused),
    }


class Rejected(ActionError):
    """A permanent refusal (5xx) at RCPT or DATA: the address bounces."""

    def __init__(self, message: str, smtp_code: int):
        super().__init__("rejected", message)
        self.smtp_code = smtp_code

    def __reduce__(self):
        return (Rejected, (self.message, self.smtp_code))


def deliver(ctx: ActionContext, msg: EmailMessage, url: str | None = None) -> dict:
    """Send ``msg`` through the relay ``url`` (else QYLON_SMTP_URL); the recipients it
    refused while taking others. A 4xx or no answer is ``unavailable``; a 5xx at RCPT
    (every recipient) or DATA is ``Rejected``."""
    scheme, host, port, user, password = _relay(url)
    timeout = ctx.remaining(TIMEOUT_S)
    try:
        if scheme == "smtps":
            client = smtplib.SMTP_SSL(
                host, port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            if scheme == "smtp+starttls":
                client.starttls(context=ssl.create_default_context())
            if user:
                client.login(user, password or "")
            refused = client.send_message(msg)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        message = f"the relay refused every recipient: {exc.recipients}"[:500]
        if codes and all(400 <= code < 500 for code in codes):
            raise ActionError("unavailable", message) from None
        raise Rejected(message, max(codes or [550])) from None
    except smtplib.SMTPAuthenticationError as exc:
        raise ActionError("not_configured", f"the relay refused the login: {exc.smtp_code}")
    except smtplib.SMTPResponseException as exc:
        detail = exc.smtp_error.decode(errors="replace")
        message = f"the relay answered {exc.smtp_code}: {detail}"[:500]
        if 400 <= exc.smtp_code < 500:
            raise ActionError("unavailable", message) from None
        raise Rejected(message, exc.smtp_code) from None
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        raise ActionError("unavailable", f"cannot send through {host}:{port}: {exc}"[:500])
    return refused
