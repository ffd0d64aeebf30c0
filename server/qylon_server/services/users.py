"""Users: invite, update, deactivate, reactivate and bulk changes, each through the one
``Provisioner`` (its rules: ranks, never yourself, the last owner, unique emails).

A refusal raises ``ApiError`` with the provisioner's status and code; the caller's
transaction then rolls back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.orm import Session

from qylon_cli.schemas import BulkOutcome, BulkRequest, BulkResult, BulkUserFields, UserInvite

from ..errors import ApiError
from ..models import IdempotencyKey, User
from ..payloads import read_payload, stored
from .provisioning import PLAIN, Outcome, Provisioner, Refused


@contextmanager
def refusals() -> Iterator[None]:
    """Turn the provisioner's ``Refused`` into the API's error."""
    try:
        yield
    except Refused as exc:
        raise ApiError(exc.status, exc.message, code=exc.code, hint=exc.hint) from None


def invite(session: Session, principal, *, invite: UserInvite) -> User:
    """A new user (one ``user.invite`` event); groups it names must exist."""
    with refusals():
        provisioner = Provisioner(session, principal, via="api", create_groups=False)
        outcome = provisioner.invite(invite)
        provisioner.finish()
    return outcome.user  # its user.created event: the provisioner's


# Fields a PATCH may clear by sending null (JSON merge patch, RFC 7396): the plain ones,
# and manager_email, groups and attributes; role may not be null.
CLEARABLE = (*PLAIN, "manager_email", "groups", "attributes")


def update(session: Session, principal, *, user: User, fields: BulkUserFields) -> Outcome:
    """Change the fields given of one user (``PATCH /v1/users/{id}``), under the same rules
    as a bulk update; a field sent as null is cleared, one left out stays. Activation has
    its own routes (deactivate, reactivate), so ``active`` is refused here."""
    sent = fields.model_fields_set
    if "active" in sent:
        raise ApiError(
            422,
            "A PATCH does not deactivate or reactivate a user.",
            code="invalid_input",
            hint="Use POST /v1/users/{id}/deactivate or /reactivate (qylon users deactivate).",
        )
    if "role" in sent and fields.role is None:
        raise ApiError(422, "A user always has a role: role cannot be null.", code="invalid_input")
    nulls = {name for name in sent if getattr(fields, name) is None}
    changes = {}
    if "manager_email" in nulls:
        changes["manager_email"] = ""  # the provisioner's "no manager"
    if "groups" in nulls:
        changes["groups"] = []
    if changes:
        fields = fields.model_copy(update=changes)
    with refusals():
        provisioner = Provisioner(session, principal, via="api", create_groups=False)
        outcome = provisioner.update(user, fields, clear=nulls & set(CLEARABLE))
        provisioner.finish()
    return outcome


def change(session: Session, principal, *, user: User, change: str) -> User:
    """``deactivate`` or ``reactivate`` one user."""
    if change not in ("deactivate", "reactivate"):
        raise ValueError(change)
    with refusals():
        provisioner = Provisioner(session, principal, via="api")
        getattr(provisioner, change)(user)
        provisioner.finish()
    return user


def bulk(session: Session, principal, *, request: BulkRequest, idempotency_key: str) -> BulkResult:
    """Apply a batch in the caller's transaction; a repeated key answers the stored result."""
    digest = hashlib.sha256(
        json.dumps(request.model_dump(mode="json"), sort_keys=True).encode()
    ).hexdigest()
    previous = session.scalar(select(IdempotencyKey).where(IdempotencyKey.key == idempotency_key))
    if previous is not None:
        if previous.request_hash != digest:
            raise ApiError(
                409,
                "This Idempotency-Key was used for a different batch.",
                code="idempotency_key_reused",
                hint="Use a new key for each distinct batch.",
            )
        return BulkResult.model_validate(
            {**read_payload("idempotency_response", previous.response), "replayed": True}
        )
    with refusals():
        outcomes = Provisioner(
            session, principal, via="bulk", create_groups=request.create_groups
        ).apply(request.items)
    result = _result(outcomes)
    session.add(
        IdempotencyKey(
            key=idempotency_key,
            request_hash=digest,
            response=stored("idempotency_response", result.model_dump(mode="json")),
        )
    )
    return result


def _result(outcomes: list[Outcome]) -> BulkResult:
    results = [
        BulkOutcome(
            index=i, email=o.user.email, outcome=o.outcome, user_id=o.user.id, changed=o.changed
        )
        for i, o in enumerate(outcomes)
    ]
    counts: dict[str, int] = {}
    for r in results:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    return BulkResult(results=results, counts=counts)
