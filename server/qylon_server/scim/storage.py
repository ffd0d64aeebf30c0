"""scim2-server's storage on the server's database: users and groups, read with SQL and
changed only through the :class:`~qylon_server.services.provisioning.Provisioner`.

A search narrows the rows with SQL where the filter allows it (``eq``, ``co``, ``sw``,
``ew`` on userName, emails, externalId, displayName, id, names and title, joined by
``and``/``or``), then scim2-models' own evaluator decides on each candidate, so every
filter the RFC allows gives the right answer; the common ones (the look-up before each
create) touch one row. Pages are ordered by creation time, then id: stable, as Okta asks.

Deleting a user deactivates them (their meetings and history stay) and marks them
deprovisioned: SCIM then answers 404 for them, as RFC 7644 §3.6 asks, and creating the
same userName again brings the same user back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import ValidationError
from scim2_models import (
    ConflictException,
    EnterpriseUser,
    ForbiddenException,
    GroupMembership,
    InvalidValueException,
    NotFoundException,
    NotImplementedException,
    PreconditionFailedException,
    Resource,
    ResourceType,
    ScimFilter,
    SearchRequest,
    TooManyException,
    UniquenessException,
)
from scim2_models import Group as ScimGroup
from scim2_models import GroupMember as ScimMember
from scim2_server.storage import ScimStorage, SearchPage
from scim2_server.utils import parametrize
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from qylon_cli.schemas import BulkUserFields

from ..models import Group, GroupMember, User, now
from ..services.provisioning import Duplicate, Provisioner, Refused
from .mapping import (
    KEPT,
    OWNED,
    UserResource,
    _columns,
    _email,
    _extra,
    _group_resource,
    _has_enterprise,
    _narrow,
    _phone,
    _primary,
    _user_resource,
    version,
)


@contextmanager
def refusals() -> Iterator[None]:
    """The Provisioner's refusals as SCIM errors."""
    try:
        yield
    except Duplicate as exc:
        raise UniquenessException(detail=exc.message) from None
    except Refused as exc:
        if exc.status == 403:
            raise ForbiddenException(detail=exc.message) from None
        if exc.status == 404:
            raise NotFoundException(detail=exc.message) from None
        if exc.status == 409:
            raise ConflictException(detail=exc.message) from None
        raise InvalidValueException(detail=exc.message) from None


class SqlStorage(ScimStorage):
    """One request's storage: ``session`` is its transaction, ``provisioner`` its rules."""

    def __init__(
        self,
        session: Session,
        provisioner: Provisioner,
        *,
        phone_region: str | None = None,
        max_scan: int = 1000,
    ):
        self.session, self.provisioner = session, provisioner
        self.max_scan = max_scan  # resources a filter SQL cannot narrow may be checked in memory
        self.phone_region = phone_region  # for national numbers (no +country code), e.g. "US"

    # -- reading ---------------------------------------------------------------
    def get(
        self, resource_type: ResourceType, resource_id: str, *, response_parameters=None
    ) -> Resource[Any]:
        if resource_type.name == "User":
            return self._users_as_scim([self._user(resource_id)])[0]
        return self._groups_as_scim([self._group(resource_id)])[0]

    def search(
        self,
        resource_types: list[ResourceType],
        search_request: SearchRequest[Any],
        *,
        position: Any = None,
    ) -> SearchPage:
        if len(resource_types) != 1:
            raise NotImplementedException(
                detail="Search one resource type at a time: /Users or /Groups."
            )
        is_user = resource_types[0].name == "User"
        model, convert = (User, self._users_as_scim) if is_user else (Group, self._groups_as_scim)
        query = select(model)
        if is_user:
            query = query.where(User.deprovisioned_at.is_(None))
        start = search_request.start_index_0 or 0
        count = search_request.count
        order = (model.created_at, model.id)
        scim_filter = search_request.filter
        if scim_filter is None:
            total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
            if count == 0:
                return SearchPage(total, [])
            rows = self.session.scalars(query.order_by(*order).offset(start).limit(count)).all()
            return SearchPage(total, convert(list(rows)))
        narrowed = _narrow(scim_filter.ast, _columns(is_user))
        if narrowed is not None:
            query = query.where(narrowed)
        candidates = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        if candidates > self.max_scan:
            raise TooManyException(
                detail=(
                    f"This filter would be checked against {candidates} resources one by one (the most is "
                    f"{self.max_scan}). Filter with eq, co or sw on userName, emails, externalId, displayName, "
                    "name.givenName, name.familyName or title (users), or displayName, externalId (groups)."
                )
            )
        resource_model = UserResource if is_user else ScimGroup
        if not scim_filter.models:
            scim_filter = parametrize(ScimFilter, resource_model)(str(scim_filter))
        found: list[Resource[Any]] = []
        rows = self.session.scalars(query.order_by(*order).execution_options(yield_per=500))
        batch: list = []
        for row in rows:
            batch.append(row)
            if len(batch) == 500:
                found += [r for r in convert(batch) if scim_filter.match(r)]
                batch = []
        found += [r for r in convert(batch) if scim_filter.match(r)]
        stop = None if count is None else start + count
        return SearchPage(len(found), found[start:stop])

    def _user(self, user_id: str | None) -> User:
        user = self.session.scalar(
            select(User).where(User.id == user_id, User.deprovisioned_at.is_(None))
        )
        if user is None:
            raise NotFoundException(detail=f"User {user_id} not found")
        return user

    def _group(self, group_id: str | None) -> Group:
        group = self.session.scalar(select(Group).where(Group.id == group_id))
        if group is None:
            raise NotFoundException(detail=f"Group {group_id} not found")
        return group

    def _users_as_scim(self, users: list[User]) -> list[Resource[Any]]:
        ids = [u.id for u in users]
        memberships: dict[str, list[GroupMembership]] = {i: [] for i in ids}
        if ids:
            rows = self.session.execute(
                select(GroupMember.user_id, Group.id, Group.display_name)
                .join(Group, Group.id == GroupMember.group_id)
                .where(GroupMember.user_id.in_(ids))
                .order_by(Group.display_name)
            )
            for user_id, group_id, name in rows:
                memberships[user_id].append(
                    GroupMembership(value=group_id, display=name, type="direct")
                )
        return [_user_resource(u, memberships[u.id]) for u in users]

    def _groups_as_scim(self, groups: list[Group]) -> list[Resource[Any]]:
        ids = [g.id for g in groups]
        members: dict[str, list[ScimMember]] = {i: [] for i in ids}
        if ids:
            rows = self.session.execute(
                select(
                    GroupMember.group_id, User.id, func.coalesce(GroupMember.display, User.email)
                )
                .join(User, User.id == GroupMember.user_id)
                .where(GroupMember.group_id.in_(ids), User.deprovisioned_at.is_(None))
                .order_by(User.email)
            )
            for group_id, user_id, display in rows:
                members[group_id].append(
                    ScimMember(value=user_id, display=display, type="User", ref=f"Users/{user_id}")
                )
        return [_group_resource(g, members[g.id]) for g in groups]

    # -- writing ---------------------------------------------------------------
    def create(self, resource_type: ResourceType, resource: Resource[Any]) -> Resource[Any]:
        with refusals():
            if resource_type.name == "Group":
                members, displays = self._members(resource)
                group = self.provisioner.create_group(
                    resource.display_name or "", external_id=resource.external_id, members=members
                )
                self._keep_displays(group, displays)
                self.provisioner.finish()
                return self._groups_as_scim([group])[0]
            email, user_name, fields = self._user_fields(resource)
            existing = self.provisioner.by_email(email)
            if existing is not None and existing.deprovisioned_at is None:
                raise Duplicate(f"A user with email {email} already exists.")
            if existing is not None:  # deleted earlier: the same person comes back
                existing.deprovisioned_at = None
                self.provisioner.update(existing, fields, clear=OWNED)
                user = existing
            else:
                user = self.provisioner.create(email, fields).user
            self.provisioner.rename(user, email, user_name)
            self.provisioner.keep_scim(user, _extra(resource))
            self.provisioner.finish()
        return self._users_as_scim([user])[0]

    def update(
        self,
        resource_type: ResourceType,
        resource: Resource[Any],
        *,
        expected_version: str | None = None,
    ) -> Resource[Any]:
        with refusals():
            if resource_type.name == "Group":
                group = self._group(resource.id)
                self._check_version(group, expected_version)
                members, displays = self._members(resource)
                self.provisioner.update_group(
                    group,
                    name=resource.display_name or "",
                    external_id=resource.external_id,
                    members=members,
                )
                self._keep_displays(group, displays)
                self.provisioner.finish()
                return self._groups_as_scim([group])[0]
            user = self._user(resource.id)
            self._check_version(user, expected_version)
            email, user_name, fields = self._user_fields(resource, user)
            self.provisioner.rename(user, email, user_name)
            self.provisioner.update(user, fields, clear=OWNED)
            self.provisioner.keep_scim(user, _extra(resource))
            self.provisioner.finish()
        return self._users_as_scim([user])[0]

    def delete(
        self, resource_type: ResourceType, resource_id: str, *, expected_version: str | None = None
    ) -> None:
        with refusals():
            if resource_type.name == "Group":
                group = self._group(resource_id)
                self._check_version(group, expected_version)
                self.provisioner.delete_group(group)
            else:
                user = self._user(resource_id)
                self._check_version(user, expected_version)
                self.provisioner.deactivate(user)
                user.deprovisioned_at = now()
            self.provisioner.finish()

    @staticmethod
    def _check_version(row: User | Group, expected: str | None) -> None:
        if expected is not None and version(row.updated_at) != expected:
            raise PreconditionFailedException

    def _keep_displays(self, group: Group, displays: dict[str, str | None]) -> None:
        """Keep each member's display as the identity provider sent it."""
        self.session.flush()
        for user_id, display in displays.items():
            self.session.execute(
                update(GroupMember)
                .where(GroupMember.group_id == group.id, GroupMember.user_id == user_id)
                .values(display=display)
                .execution_options(synchronize_session=False)
            )

    def _members(self, resource: ScimGroup) -> tuple[list[User], dict[str, str | None]]:
        displays = {m.value: m.display for m in resource.members or [] if m.value}
        ids = list(displays)
        users = (
            list(
                self.session.scalars(
                    select(User).where(User.id.in_(ids), User.deprovisioned_at.is_(None))
                )
            )
            if ids
            else []
        )
        unknown = set(ids) - {u.id for u in users}
        if unknown:
            raise InvalidValueException(
                detail=f"Members must be users of this organisation; unknown: {', '.join(sorted(unknown))}"
            )
        return users, displays

    def _user_fields(
        self, resource: UserResource, current: User | None = None
    ) -> tuple[str, str | None, BulkUserFields]:
        """The email, the login (when the userName is not the email) and the fields of a SCIM
        user (its whole state: a replacement)."""
        user_name = (resource.user_name or "").strip()
        email = _email(user_name)
        if email is None:
            primary = _primary([e for e in resource.emails or [] if e.value])
            email = _email(primary.value) if primary is not None else None
            if email is None:
                raise InvalidValueException(
                    detail="A user needs an email address (Qylon signs people in by email): "
                    "send it as userName or in emails."
                )
        else:
            user_name = None
        enterprise = resource[EnterpriseUser] if _has_enterprise(resource) else None
        manager_email = ""
        if enterprise is not None and enterprise.manager is not None and enterprise.manager.value:
            manager = self.session.scalar(select(User).where(User.id == enterprise.manager.value))
            if manager is None:
                raise InvalidValueException(
                    detail=f"manager {enterprise.manager.value} is not a user here"
                )
            manager_email = manager.email
        kept = {
            k: v
            for k, v in ((current.attributes if current else None) or {}).items()
            if k not in KEPT.values()
        }
        for field, key in KEPT.items():
            value = getattr(enterprise, field, None) if enterprise is not None else None
            if value:
                kept[key] = str(value)
        phone = _primary(resource.phone_numbers)
        address = _primary(resource.addresses)
        try:
            fields = BulkUserFields(
                given_name=resource.name.given_name if resource.name else None,
                family_name=resource.name.family_name if resource.name else None,
                display_name=resource.display_name,
                title=resource.title,
                phone=_phone(phone.value, self.phone_region) if phone is not None else None,
                location=(address.locality or address.formatted) if address is not None else None,
                department=enterprise.department if enterprise is not None else None,
                manager_email=manager_email,
                external_id=resource.external_id,
                attributes=kept,
                active=resource.active if resource.active is not None else True,
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            raise InvalidValueException(
                detail=f"{'.'.join(map(str, first['loc']))}: {first['msg']}"
            ) from None
        return email, user_name, fields
