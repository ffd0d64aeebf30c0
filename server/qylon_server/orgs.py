"""Creating an organisation with its first owner and key (`qylon server init`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from qylon_cli import addresses
from qylon_cli.errors import InvalidInput

from . import keys
from .db import Database, set_org
from .models import Organisation, User, new_id
from .services import audit


@dataclass
class Initialised:
    org_id: str
    org_name: str
    user_id: str
    email: str
    key_id: str
    prefix: str
    token: str


def create_org(
    db: Database, *, name: str, admin_email: str, pepper: bytes, allow_more: bool = False
) -> Initialised:
    name = name.strip()
    if not name:
        raise InvalidInput("The organisation name is empty.")
    try:
        email = addresses.email(admin_email.strip())
    except addresses.Bad as exc:
        raise InvalidInput(f"{admin_email!r} is not an email address: {exc.message}") from None
    org_id = new_id()
    with db.session(org_id) as s:
        if not allow_more:
            existing = s.scalars(
                select(Organisation.id), execution_options={"skip_tenant_filter": True}
            ).first()
            if existing is not None:
                raise InvalidInput(
                    "This server already has an organisation.",
                    hint="Use --another to create one more (each organisation is isolated).",
                )
        set_org(s, org_id)
        s.add(Organisation(id=org_id, name=name))
        s.flush()
        user = User(email=email, role="owner", status="active", display_name=email.split("@")[0])
        s.add(user)
        s.flush()
        new = keys.create(
            s,
            pepper=pepper,
            user_id=user.id,
            name="first admin key",
            scopes=["read", "write", "admin"],
        )
        s.add(new.row)
        s.flush()
        audit.record(
            s,
            None,
            "organisation.create",
            target_type="organisation",
            target_id=org_id,
            detail={"name": name},
        )
    return Initialised(org_id, name, user.id, email, new.row.id, new.row.prefix, new.token)
