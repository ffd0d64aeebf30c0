"""The group half of ``Provisioner`` (``provisioning.py``): creating, renaming and
deleting groups and changing their members, with each user's cached ``groups`` column
kept in step. A mixin: it works on the provisioner's session, caches and audit events."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, insert, select

from ..models import Group, GroupMember, User, new_id, now
from .outcomes import Duplicate, Refused, _clean


class GroupChanges:
    """Group rules and changes; ``Provisioner`` provides the state they use."""

    def groups(self) -> dict[str, Group]:
        """The organisation's groups by case-folded name (loaded once)."""
        if self._groups is None:
            self._groups = {g.name_key: g for g in self.session.scalars(select(Group))}
        return self._groups

    def _named_groups(self, names: Iterable[str]) -> list[Group]:
        """The groups with these names, created when missing (if ``create_groups``)."""
        found: dict[str, Group] = {}
        for name in names:
            name = _clean(name)
            if name and name.casefold() not in found:
                group = self.groups().get(name.casefold())
                if group is None and not self.create_groups:
                    raise Refused(
                        f"The group {name} does not exist.",
                        code="group_not_found",
                        status=422,
                        hint="Create it first (qylon groups create NAME), or let an import create "
                        "it (qylon users import --create-groups).",
                    )
                found[name.casefold()] = group or self.create_group(name)
        return list(found.values())

    def create_group(
        self, name: str, *, external_id: str | None = None, members: Iterable[User] = ()
    ) -> Group:
        name = _clean(name) or ""
        if not name:
            raise Refused("A group needs a name.", code="invalid_input", status=422)
        if name.casefold() in self.groups():
            raise Duplicate(f"A group named {name} already exists.")
        self._unique_group_external_id(external_id, None)
        group = Group(
            id=new_id(),
            display_name=name,
            name_key=name.casefold(),
            external_id=_clean(external_id),
        )
        self.session.add(group)
        self.groups()[group.name_key] = group
        self._audit("group.create", group, {"name": name})
        if members:
            self.session.flush()
            self.set_members(group, members)
        return group

    def update_group(
        self, group: Group, *, name: str, external_id: str | None, members: Iterable[User]
    ) -> list[str]:
        """Rename a group, change its external id and set its members; the fields that changed."""
        changed = []
        name = _clean(name) or ""
        if not name:
            raise Refused("A group needs a name.", code="invalid_input", status=422)
        if name != group.display_name:
            other = self.groups().get(name.casefold())
            if other is not None and other.id != group.id:
                raise Duplicate(f"A group named {name} already exists.")
            del self.groups()[group.name_key]
            group.display_name, group.name_key = name, name.casefold()
            self.groups()[group.name_key] = group
            changed.append("displayName")
        if _clean(external_id) != group.external_id:
            self._unique_group_external_id(external_id, group.id)
            group.external_id = _clean(external_id)
            changed.append("externalId")
        added, removed = self.set_members(group, members, audit=False)
        if added or removed:
            changed.append("members")
        if "displayName" in changed:
            self.session.flush()
            self._recache(self._member_ids(group))
        if changed:
            self._audit(
                "group.update",
                group,
                {"name": group.display_name, "fields": changed, "added": added, "removed": removed},
            )
        return changed

    def delete_group(self, group: Group) -> None:
        members = self._member_ids(group)
        self.session.execute(delete(GroupMember).where(GroupMember.group_id == group.id))
        self.groups().pop(group.name_key, None)
        self._audit("group.delete", group, {"name": group.display_name})
        self.session.delete(group)
        self.session.flush()
        self._recache(members)

    def set_members(
        self, group: Group, members: Iterable[User], *, audit: bool = True
    ) -> tuple[list[str], list[str]]:
        """Make these users the group's members; the ids added and removed."""
        for user in members:
            self._check_role(None, user)
        wanted = {u.id for u in members}
        current = set(self._member_ids(group))
        added, removed = sorted(wanted - current), sorted(current - wanted)
        if removed:
            self.session.execute(
                delete(GroupMember).where(
                    GroupMember.group_id == group.id, GroupMember.user_id.in_(removed)
                )
            )
        if added:
            self.session.execute(
                insert(GroupMember),
                [
                    {"org_id": self.principal.org_id, "group_id": group.id, "user_id": u}
                    for u in added
                ],
            )
        if added or removed:
            group.updated_at = now()  # its version (ETag) changes with its members
            self.session.flush()
            self._recache([*added, *removed])
            if audit:
                self._audit(
                    "group.update",
                    group,
                    {
                        "name": group.display_name,
                        "fields": ["members"],
                        "added": added,
                        "removed": removed,
                    },
                )
        return added, removed

    def add_member(self, group: Group, user: User) -> bool:
        """Put one user in a group (one audit event); False when they already are."""
        return self._one_member(group, user, add=True)

    def remove_member(self, group: Group, user: User) -> bool:
        """Take one user out of a group (one audit event); False when they were not in it."""
        return self._one_member(group, user, add=False)

    def _one_member(self, group: Group, user: User, *, add: bool) -> bool:
        """Unlike ``set_members``, only this user's rank is checked, not every member's."""
        self._check_role(None, user)
        member = self.session.scalar(
            select(GroupMember.user_id).where(
                GroupMember.group_id == group.id, GroupMember.user_id == user.id
            )
        )
        if (member is not None) == add:
            return False
        if add:
            self.session.execute(
                insert(GroupMember),
                [{"org_id": self.principal.org_id, "group_id": group.id, "user_id": user.id}],
            )
        else:
            self.session.execute(
                delete(GroupMember).where(
                    GroupMember.group_id == group.id, GroupMember.user_id == user.id
                )
            )
        group.updated_at = now()  # its version (ETag) changes with its members
        self.session.flush()
        self._recache([user.id])
        self._audit(
            "group.update",
            group,
            {
                "name": group.display_name,
                "fields": ["members"],
                "added": [user.id] if add else [],
                "removed": [] if add else [user.id],
                "email": user.email,
            },
        )
        return True

    def _set_memberships(self, user: User, groups: list[Group]) -> None:
        """Make these groups the user's groups (the user exists in the database)."""
        self.session.flush()
        wanted = {g.id for g in groups}
        current = set(
            self.session.scalars(select(GroupMember.group_id).where(GroupMember.user_id == user.id))
        )
        if current - wanted:
            self.session.execute(
                delete(GroupMember).where(
                    GroupMember.user_id == user.id,
                    GroupMember.group_id.in_(sorted(current - wanted)),
                )
            )
        if wanted - current:
            self.session.execute(
                insert(GroupMember),
                [
                    {"org_id": self.principal.org_id, "group_id": g, "user_id": user.id}
                    for g in sorted(wanted - current)
                ],
            )

    def _member_ids(self, group: Group) -> list[str]:
        return list(
            self.session.scalars(
                select(GroupMember.user_id).where(GroupMember.group_id == group.id)
            )
        )

    def _recache(self, user_ids: Iterable[str]) -> None:
        """Rewrite the ``groups`` cache of these users from their memberships."""
        ids = sorted(set(user_ids))
        names: dict[str, list[str]] = {i: [] for i in ids}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = self.session.execute(
                select(GroupMember.user_id, Group.display_name)
                .join(Group, Group.id == GroupMember.group_id)
                .where(GroupMember.user_id.in_(chunk))
            )
            for user_id, name in rows:
                names[user_id].append(name)
            for user in self.session.scalars(select(User).where(User.id.in_(chunk))):
                user.groups = sorted(names[user.id]) or None

    def _unique_group_external_id(self, external_id: str | None, group_id: str | None) -> None:
        if _clean(external_id):
            other = self.session.scalar(
                select(Group.id).where(Group.external_id == _clean(external_id))
            )
            if other is not None and other != group_id:
                raise Duplicate(f"A group with external id {external_id} already exists.")
