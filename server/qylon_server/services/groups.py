"""Groups one at a time: create, delete, add or remove one member, each through the one
``Provisioner`` (unique names, ranks, the users' ``groups`` cache kept in step) and each
one audit event. SCIM and imports change groups through the same provisioner.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import Group, GroupMember, User
from .provisioning import Provisioner
from .rows import get_or_404
from .users import refusals


def get(session: Session, group_id: str) -> Group:
    return get_or_404(session, Group, group_id, what="Group")


def member_count(session: Session, group: Group) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(GroupMember).where(GroupMember.group_id == group.id)
        )
        or 0
    )


def members(session: Session, group: Group) -> list[User]:
    """The group's users, by email."""
    return list(
        session.scalars(
            select(User)
            .join(GroupMember, GroupMember.user_id == User.id)
            .where(GroupMember.group_id == group.id)
            .order_by(User.email)
        )
    )


def create(session: Session, principal, *, name: str, external_id: str | None = None) -> Group:
    """A new, empty group (``group.create``); its name is unique, case-insensitively."""
    with refusals():
        provisioner = Provisioner(session, principal, via="api")
        group = provisioner.create_group(name, external_id=external_id)
        provisioner.finish()
    return group


def delete(session: Session, principal, *, group: Group) -> None:
    """Delete a group (``group.delete``); its members stay, without it."""
    with refusals():
        provisioner = Provisioner(session, principal, via="api")
        provisioner.delete_group(group)
        provisioner.finish()


def add_member(session: Session, principal, *, group: Group, user: User) -> bool:
    """Put ``user`` in ``group`` (``group.update``); False when they already were."""
    return _member(session, principal, group=group, user=user, add=True)


def remove_member(session: Session, principal, *, group: Group, user: User) -> bool:
    """Take ``user`` out of ``group`` (``group.update``); False when they were not in it."""
    return _member(session, principal, group=group, user=user, add=False)


def _member(session: Session, principal, *, group: Group, user: User, add: bool) -> bool:
    with refusals():
        provisioner = Provisioner(session, principal, via="api")
        changed = (provisioner.add_member if add else provisioner.remove_member)(group, user)
        provisioner.finish()
    return changed
