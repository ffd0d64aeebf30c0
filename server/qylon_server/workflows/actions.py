"""What a workflow step can do: a registry of actions, each ``fn(ctx, args) -> dict``.

An action runs inside one transaction of the run's organisation, as the person who
started the run (``deps.principal_for``): it calls the service layer, so the same rules
(ranks, never yourself, the last owner) and the same audit events apply as in a request.
Its output (a JSON mapping) is what later steps read as ``steps.NAME.output``.

A failure is an ``ActionError`` with a code (``not_found``, ``invalid_input``,
``not_allowed``, ``conflict``, ``unavailable``, ...) that a definition's ``retry_on``
names. Plain steps run at least once: an action must be safe to repeat (deactivating a
deactivated user changes nothing).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ..deps import ActorNotFound, Principal
from ..errors import CODES, ApiError
from ..models import ActionItem, ApiKey, Client, Group, User
from ..services import api_keys, audit, clients, groups, meetings, users


class ActionError(Exception):
    """A step's action failed; ``code`` decides whether it is retried (``retry_on``)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def __reduce__(self):
        return (ActionError, (self.code, self.message))


@dataclass
class ActionContext:
    session: Session
    principal: Principal
    org_id: str
    run_id: str
    step: str
    deadline: float | None = None  # epoch seconds: the attempt fails with ``timeout`` after

    @property
    def idempotency_key(self) -> str:
        """Stable across retries and recovery: send it to services that deduplicate."""
        return f"{self.run_id}.{self.step}"

    def remaining(self, cap: float) -> float:
        """Seconds left before the deadline, at most ``cap`` (a network call's timeout);
        ``timeout`` when none is left."""
        if self.deadline is None:
            return cap
        left = self.deadline - time.time()
        if left <= 0:
            raise ActionError("timeout", "the step's timeout passed")
        return min(cap, left)


Action = Callable[[ActionContext, dict], dict]
REGISTRY: dict[str, Action] = {}


def action(name: str):
    def register(fn: Action) -> Action:
        REGISTRY[name] = fn
        return fn

    return register


def _plugin_actions() -> dict:
    """Actions that installed plugins register (``register_actions``), by name."""
    from qylon_cli import plugins
    from qylon_cli.errors import QylonError

    try:
        return plugins.actions()
    except QylonError:  # e.g. two plugins claiming one name: none of theirs is usable
        return {}


def names() -> list[str]:
    return sorted({*REGISTRY, *_plugin_actions()})


def exists(name: str) -> bool:
    return name in REGISTRY or name in _plugin_actions()


def _plugin_input(entry, args: dict) -> Any:
    """The step's parameters as the action's ``input`` model (when it names one)."""
    from qylon_cli import plugins

    model = entry.options.get("input")
    return args if model is None else _model(plugins.resolve(model), args)


def _with_context(fn, ctx: ActionContext) -> dict:
    """``{"context": StepContext}`` for a plugin function that declares ``context``."""
    from qylon_cli import plugins

    if not plugins.wants_context(fn):
        return {}
    return {"context": plugins.StepContext(ctx.org_id, ctx.run_id, ctx.step, ctx.deadline)}


def _plugin_call(entry, ctx: ActionContext, args: dict) -> dict:
    """A plugin's action: ``fn(data)``, ``data`` its ``input`` model (when it names one)
    made from the step's parameters (and ``context=`` when it asks); a model or mapping
    comes back as the output."""
    from pydantic import BaseModel

    from qylon_cli import plugins

    fn = plugins.resolve(entry.target)
    result = fn(_plugin_input(entry, args), **_with_context(fn, ctx))
    if isinstance(result, BaseModel):
        result = result.model_dump(mode="json")
    return result if isinstance(result, dict) else {"result": result}


UNDO = "undo:"  # ``undo:NAME`` runs the compensation plugin action NAME registers


def plugin_compensation(name: str) -> str | None:
    """``undo:NAME`` when plugin action NAME registers a ``compensate=`` function: the
    action a step of NAME without its own ``compensate:`` is undone with."""
    entry = None if name in REGISTRY else _plugin_actions().get(name)
    return f"{UNDO}{name}" if entry is not None and entry.options.get("compensate") else None


def _plugin_undo(name: str, ctx: ActionContext, args: dict) -> dict:
    """A plugin action's ``compensate=`` function: ``fn(data, output)``, with the step's
    input model and the output the action gave."""
    from qylon_cli import plugins

    entry = _plugin_actions().get(name)
    if entry is None or not entry.options.get("compensate"):
        raise ActionError("unknown_action", f"No plugin action {name!r} with a compensation.")
    output = dict(args.get("output") or {})
    fn = plugins.resolve(entry.options["compensate"])
    result = fn(_plugin_input(entry, args.get("with") or {}), output, **_with_context(fn, ctx))
    return result if isinstance(result, dict) else output


@contextmanager
def _org_connections(ctx: ActionContext, name: str) -> Iterator[None]:
    """A plugin action sees only the run's organisation's connections (never the server
    process's environment or keyring); ``not connected`` names the fix."""
    from qylon_cli import tokens
    from qylon_cli.errors import NotAuthenticated

    from ..services.integrations import OrgConnections
    from . import engine

    integration = name.removeprefix(UNDO).split(".")[0]
    try:
        with tokens.connections(OrgConnections(ctx.session, engine.settings().pepper())):
            yield
    except NotAuthenticated as exc:
        raise ActionError(
            "not_connected",
            f"{exc.message} The organisation has no working {integration} connection: "
            f"an admin connects it with `qylon integrations connect {integration}` and "
            f"shares it with `qylon integrations share {integration}`.",
        ) from None


def call(name: str, ctx: ActionContext, args: dict) -> dict:
    """Run action ``name`` (a built-in, else a plugin's, within the organisation's
    connections); every failure comes out as an ``ActionError``."""
    if name.startswith(UNDO):
        fn = lambda c, a: _plugin_undo(name.removeprefix(UNDO), c, a)
        entry = None
    else:
        fn = REGISTRY.get(name)
        entry = None if fn is not None else _plugin_actions().get(name)
    if fn is None and entry is None:
        raise ActionError("unknown_action", f"No action {name!r}; known: {', '.join(names())}.")
    try:
        if entry is None and not name.startswith(UNDO):  # a built-in
            return fn(ctx, args or {})
        with _org_connections(ctx, name):
            return fn(ctx, args or {}) if fn is not None else _plugin_call(entry, ctx, args or {})
    except ActionError:
        raise
    except ApiError as exc:
        raise ActionError(exc.code or CODES.get(exc.status, "error"), exc.message) from None
    except ActorNotFound as exc:
        raise ActionError("not_allowed", str(exc)) from None
    except OperationalError as exc:
        raise ActionError("unavailable", f"database: {str(exc.orig or exc)[:300]}") from None


def _text(args: dict, name: str, *, required: bool = True) -> str | None:
    value = args.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ActionError("invalid_input", f"{name} is required")
        return None
    if not isinstance(value, str):
        raise ActionError("invalid_input", f"{name} must be a string")
    return value.strip()


def _user(ctx: ActionContext, args: dict) -> User:
    """The user named by ``user_id`` or ``email``."""
    user_id, email = _text(args, "user_id", required=False), _text(args, "email", required=False)
    if user_id:
        user = ctx.session.get(User, user_id) if len(user_id) <= 36 else None
    elif email:
        user = ctx.session.scalar(select(User).where(User.email == email.lower()))
    else:
        raise ActionError("invalid_input", "user_id or email is required")
    if user is None:
        raise ActionError("not_found", f"User {user_id or email} not found.")
    return user


def _described(session: Session, user: User) -> dict:
    manager = session.get(User, user.manager_id) if user.manager_id else None
    return {
        "id": user.id,
        "email": user.email,
        "status": user.status,
        "manager": manager.email if manager else None,
    }


@action("users.deactivate")
def deactivate(ctx: ActionContext, args: dict) -> dict:
    """{email | user_id, reason?} → {id, email, status, manager}"""
    user = _user(ctx, args)
    users.change(ctx.session, ctx.principal, user=user, change="deactivate")
    return _described(ctx.session, user)


@action("users.reactivate")
def reactivate(ctx: ActionContext, args: dict) -> dict:
    """{email | user_id} → {id, email, status, manager}"""
    user = _user(ctx, args)
    users.change(ctx.session, ctx.principal, user=user, change="reactivate")
    return _described(ctx.session, user)


@action("keys.revoke_all")
def revoke_all(ctx: ActionContext, args: dict) -> dict:
    """{user_id | email} → {count, key_ids}: every key of the user not yet revoked."""
    user = _user(ctx, args)
    live = ctx.session.scalars(
        select(ApiKey).where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
    ).all()
    for key in live:
        api_keys.revoke(ctx.session, ctx.principal, key_id=key.id)
    return {"count": len(live), "key_ids": [k.id for k in live]}


REGISTRY["keys.revoke"] = revoke_all  # the name config/workflows/offboard-consultant.yaml uses


@action("action_items.reassign")
def reassign(ctx: ActionContext, args: dict) -> dict:
    """{from_user (id or email), to, status?="open"} → {count, to}: items owned by the user
    (by email or name) go to ``to`` (a name, or the email of a user of the organisation);
    with ``to`` empty nothing moves (count 0)."""
    source = _text(args, "from_user")
    to = _text(args, "to", required=False)
    if to is None:  # no one to take them (a leaver without a manager): the items stay
        return {"count": 0, "to": None}
    status = _text(args, "status", required=False) or "open"
    if status not in ("open", "done", "any"):
        raise ActionError("invalid_input", "status must be open, done or any")
    if "@" in to and ctx.session.scalar(select(User.id).where(User.email == to.lower())) is None:
        # a mistyped manager's email would hand the items to nobody
        raise ActionError("not_found", f"No user {to} to take the items.")
    key = "email" if "@" in source else "user_id"
    user = _user(ctx, {key: source})
    owners = [user.email, user.display_name or ""]
    full = " ".join(p for p in (user.given_name, user.family_name) if p)
    owners.append(full)
    items = meetings.reassign_items(
        ctx.session,
        ctx.principal,
        owners=owners,
        to=to,
        status=None if status == "any" else status,
    )
    return {"count": len(items), "to": to}


def _model(model, args: dict):
    """``args`` as a pydantic model; a mismatch is ``invalid_input`` naming the fields."""
    from pydantic import ValidationError

    try:
        return model.model_validate(args)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'with'}: {e['msg']}" for e in exc.errors()
        )
        raise ActionError("invalid_input", problems[:1000]) from None


@action("users.create")
def create_user(ctx: ActionContext, args: dict) -> dict:
    """{email, name? (display name), given_name?, family_name?, display_name?, role?,
    manager? (email) | manager_id?, title?, department?, external_id?} → {id, email,
    status, manager, created}: invites the user;
    one who exists already is left as they are (``created`` false), so a repeated step
    changes nothing."""
    from qylon_cli.schemas import UserInvite

    args = dict(args)
    if "name" in args:  # a person's name as one string
        args.setdefault("display_name", args.pop("name"))
    manager = args.pop("manager", None)
    if manager:
        args["manager_id"] = _user(ctx, {"email": manager}).id
    invite = _model(UserInvite, {k: v for k, v in args.items() if v is not None})
    existing = ctx.session.scalar(select(User).where(User.email == invite.email.lower()))
    if existing is not None:
        return {**_described(ctx.session, existing), "created": False}
    user = users.invite(ctx.session, ctx.principal, invite=invite)
    return {**_described(ctx.session, user), "created": True}


def _group(ctx: ActionContext, args: dict) -> Group:
    name = _text(args, "group")
    group = ctx.session.get(Group, name) if len(name) <= 36 else None
    group = group or ctx.session.scalar(select(Group).where(Group.name_key == name.casefold()))
    if group is None:
        raise ActionError("not_found", f"Group {name} not found.")
    return group


def _membership(ctx: ActionContext, args: dict, *, add: bool) -> dict:
    group, user = _group(ctx, args), _user(ctx, args)
    change = groups.add_member if add else groups.remove_member
    changed = change(ctx.session, ctx.principal, group=group, user=user)
    return {"group": group.display_name, "user": user.email, "changed": bool(changed)}


@action("groups.add_member")
def add_member(ctx: ActionContext, args: dict) -> dict:
    """{group (name or id), email | user_id} → {group, user, changed}"""
    return _membership(ctx, args, add=True)


@action("groups.remove_member")
def remove_member(ctx: ActionContext, args: dict) -> dict:
    """{group (name or id), email | user_id} → {group, user, changed}"""
    return _membership(ctx, args, add=False)


def _client(ctx: ActionContext, args: dict) -> Client | None:
    client_id, name = _text(args, "client_id", required=False), _text(args, "name", required=False)
    if client_id:
        return ctx.session.get(Client, client_id) if len(client_id) <= 36 else None
    if name:
        return ctx.session.scalar(select(Client).where(func.lower(Client.name) == name.lower()))
    raise ActionError("invalid_input", "client_id or name is required")


@action("clients.create")
def create_client(ctx: ActionContext, args: dict) -> dict:
    """{name, domain?, tags?, notes?} → {id, name, status, created}: a client of that name
    that exists already is left as it is (``created`` false)."""
    from qylon_cli.schemas import ClientCreate

    body = _model(ClientCreate, args)
    row = _client(ctx, {"name": body.name.strip()})
    created = row is None
    if created:
        row = clients.create(ctx.session, ctx.principal, body=body)
    return {"id": row.id, "name": row.name, "status": row.status, "created": created}


@action("clients.archive")
def archive_client(ctx: ActionContext, args: dict) -> dict:
    """{client_id | name} → {id, name, status}"""
    row = _client(ctx, args)
    if row is None:
        raise ActionError(
            "not_found", f"Client {args.get('client_id') or args.get('name')} not found."
        )
    if row.status != "archived":
        clients.archive(ctx.session, ctx.principal, row=row)
    return {"id": row.id, "name": row.name, "status": row.status}


def _email_of(session: Session, name: str | None) -> str | None:
    """A person named in a meeting (a speaker, an item's owner) as a user's email: the
    email itself, or the user whose display name or full name it is (case-insensitive)."""
    if not name or not name.strip():
        return None
    name = name.strip()
    if "@" in name:
        return name.lower()
    full = func.lower(
        func.trim(func.coalesce(User.given_name, "") + " " + func.coalesce(User.family_name, ""))
    )
    return session.scalar(
        select(User.email)
        .where((func.lower(User.display_name) == name.lower()) | (full == name.lower()))
        .limit(1)
    )


@action("meetings.get")
def get_meeting(ctx: ActionContext, args: dict) -> dict:
    """{id} → {id, title, client, created_at, summary, speakers, attendees, open_items,
    owners}: ``attendees`` and ``owners`` are emails of the users the speakers and the open
    items' owners name (names that are nobody's are left out)."""
    from ..errors import ApiError as NotThere

    meeting_id = _text(args, "id")
    try:
        row = meetings.get(ctx.session, ctx.principal, meeting_id)
    except NotThere:
        raise ActionError("not_found", f"Meeting {meeting_id} not found.") from None
    speakers = [s.get("name") or s.get("id") for s in row.speakers or [] if isinstance(s, dict)]
    items = ctx.session.scalars(
        select(ActionItem).where(ActionItem.meeting_id == row.id, ActionItem.status == "open")
    ).all()

    def emails(names) -> list[str]:
        found = (_email_of(ctx.session, n) for n in names)
        return sorted({e for e in found if e})

    return {
        "id": row.id,
        "title": row.title,
        "client": row.client_name,
        "created_at": row.created_at.isoformat(),
        "summary": row.summary,
        "speakers": speakers,
        "attendees": emails(speakers),
        "open_items": len(items),
        "owners": emails(i.owner for i in items),
    }


@action("notify")
def notify(ctx: ActionContext, args: dict) -> dict:
    """{to, subject, text}: for now an audit event (``workflow.notify``) holding the
    message; no mail is sent yet."""
    to, subject = _text(args, "to"), _text(args, "subject")
    text = _text(args, "text", required=False) or ""
    audit.record(
        ctx.session,
        ctx.principal,
        "workflow.notify",
        target_type="workflow_run",
        target_id=ctx.run_id,
        detail={"to": to, "subject": subject, "text": text[:4000], "step": ctx.step},
    )
    return {"to": to, "delivered": "audit"}


@action("http.request")
def http_request(ctx: ActionContext, args: dict) -> dict:
    """{method?="GET", url, headers?, json? | body?, expect?=[2xx]} → {status, headers,
    json | text, truncated?}: one request to a host in QYLON_WORKFLOW_HTTP_ALLOW, with
    ``Idempotency-Key: {run_id}.{step}`` (see ``workflows.http``)."""
    from . import engine, http

    try:
        return http.request(
            args,
            allow=engine.settings().workflow_http_allow,
            idempotency_key=ctx.idempotency_key,
            deadline=ctx.deadline,
        )
    except http.HttpError as exc:
        raise ActionError(exc.code, exc.message) from None


@action("fail")
def fail(ctx: ActionContext, args: dict) -> dict:
    """{code?="failed", message?}: always fails (for trying compensations and retries)."""
    code = _text(args, "code", required=False) or "failed"
    raise ActionError(code, _text(args, "message", required=False) or "this step always fails")


from . import (
    compliance_escalation,  # noqa: F401 - registers compliance.*
    digest,  # noqa: F401 - registers digest.plan, .send, .next
    engagement,  # noqa: F401 - registers engagement.evaluate
    event_mail,  # noqa: F401 - registers notify.send
    mail,  # noqa: F401 - registers email.send
    onboarding,  # noqa: F401 - registers onboarding.plan, .send, .finish
    overdue,  # noqa: F401 - registers overdue.mark
    webhook_send,  # noqa: F401 - registers webhook.deliver
)
