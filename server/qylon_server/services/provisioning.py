"""Provisioning users: the rules for creating, inviting, changing, deactivating and
reactivating users and groups. Bulk imports (``POST /v1/users/bulk``), SCIM, the
single-user routes (``services/users.py``) and the group routes (``services/groups.py``)
all go through ``Provisioner``, so they obey the same rules (API keys follow
``services/api_keys.py``'s, organisations ``orgs.py``'s):

- an email is unique in the organisation (stored lower-cased), and so is an external id;
- nobody gives a role above their own, nor changes a user who outranks them;
- a manager is named by email, must exist (or be created earlier in the same batch),
  and a chain of managers never loops;
- nobody deactivates themselves, and the organisation keeps at least one owner;
- a group's display name is unique in the organisation (case-insensitively); a user's
  ``groups`` column caches the names of the groups they are in, kept in step here;
- each created or changed user or group is an audit event; a new user gets an invitation.

Everything happens in the caller's session (one transaction; call ``finish()`` at the
end); a refused change raises ``Refused`` and the caller rolls the whole transaction back.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import String, func, insert, literal, select, text, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, aliased

from qylon_cli.schemas import BulkItem, BulkUserFields, UserInvite

from ..events import append_many, domain, stream_of
from ..models import Group, GroupMember, Invitation, User, new_id, now
from ..payloads import read_payload, stored
from ..permissions import rank
from . import audit
from .outcomes import Duplicate, Outcome, Refused, _clean
from .provisioning_groups import GroupChanges

__all__ = ["Duplicate", "Outcome", "Provisioner", "Refused"]

PLAIN = (
    "given_name", "family_name", "display_name", "title", "department", "location",
    "start_date", "phone", "team", "external_id", "time_zone",
)  # fmt: skip


class Provisioner(GroupChanges):
    """Apply changes to users on behalf of ``principal`` (its user is the caller)."""

    def __init__(
        self, session: Session, principal, *, via: str = "bulk", create_groups: bool = True
    ):
        self.session, self.principal, self.via = session, principal, via
        self.create_groups = create_groups  # False: naming a group that does not exist is refused
        self.me: User = principal.user
        self._owners: int | None = None
        self._invites: list[dict] = []  # inserted by finish(), once the users are
        self._events: list[dict] = []  # audit events, likewise inserted together
        self._parents: dict[str, str | None] = {}  # user id -> manager id (manager loops)
        self._known: dict[str, User | None] = {}  # email -> user (None: looked up, not there)
        self._groups: dict[str, Group] | None = None  # name_key -> group, loaded on first use
        self._members: list[dict] = []  # memberships of new users, inserted by finish()
        self._domain: list[tuple] = []  # the users' domain events, appended by finish()

    # -- look-ups --------------------------------------------------------------
    def preload(self, emails: Iterable[str]) -> None:
        """Load these users into the session at once (one query per 500 emails), and on
        PostgreSQL the chains of managers above them (one query per level)."""
        wanted = sorted({e.strip().lower() for e in emails if e} - set(self._known))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            self._known.update(dict.fromkeys(chunk))
            for user in self.session.scalars(self._each(User.email, chunk)):
                self._known[user.email] = user
                self._parents[user.id] = user.manager_id
        if self._postgres:
            self._load_parents()

    @property
    def _postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    def _load_parents(self) -> None:
        """Every manager id above the known users, level by level (for _manager's loop
        check), rather than one round trip per missing link. Not on SQLite: no round
        trips there, and it plans a list of ids as a scan of the whole organisation
        (through uq_users_org_email), so _parent() looks each one up by primary key."""
        missing = sorted({m for m in self._parents.values() if m} - set(self._parents))
        while missing:
            for start in range(0, len(missing), 500):
                chunk = missing[start : start + 500]
                self._parents.update(dict.fromkeys(chunk))
                self._parents.update(
                    self.session.execute(self._each(User.id, chunk, User.id, User.manager_id))
                    .tuples()
                    .all()
                )
            missing = sorted({m for m in self._parents.values() if m} - set(self._parents))

    def _each(self, column, values: list[str], *columns):
        """Users (or only ``columns`` of them) whose ``column``, a unique key within the
        organisation, is one of ``values``.

        On PostgreSQL: one index probe per value (a LATERAL join over an array). With
        ``IN (...)`` the planner, while the table has no statistics yet (right after a
        big import, before autovacuum analyses it), scans every user of the organisation
        through an org_id index for each batch: quadratic over a large import."""
        stmt = (select(*columns) if columns else select(User)).where(
            User.org_id == self.principal.org_id
        )
        if not self._postgres:
            return stmt.where(column.in_(values))
        given = (
            func.unnest(literal(values, ARRAY(String)))
            .table_valued("value")
            .render_derived(name="given")
        )
        one = stmt.where(column == given.c.value).limit(1).lateral("one")
        picked = [one.c[c.key] for c in columns] if columns else [aliased(User, one)]
        return select(*picked).select_from(given).join(one, true())

    def by_email(self, email: str) -> User | None:
        email = email.strip().lower()
        if email not in self._known:
            self._known[email] = self.session.scalar(select(User).where(User.email == email))
        return self._known[email]

    def owners(self) -> int:
        """Active owners, counted once per transaction after locking the organisation's
        owners, so that two owners demoting or deactivating each other at the same moment
        cannot both succeed: the second waits for the first to commit, then counts again."""
        if self._owners is None:
            self._lock_owners()
            self._owners = (
                self.session.scalar(
                    select(func.count())
                    .select_from(User)
                    .where(User.role == "owner", User.status != "deactivated")
                )
                or 0
            )
        return self._owners

    def _lock_owners(self) -> None:
        if self._postgres:  # row locks on the owners, in one order (no deadlock)
            self.session.execute(
                select(User.id)
                .where(User.role == "owner")
                .order_by(User.id)
                .with_for_update(key_share=True)
            ).all()
        else:  # SQLite: take the database's write lock now; reads after it see every commit
            self.session.execute(
                text("UPDATE users SET role = role WHERE org_id = :org AND role = 'owner'"),
                {"org": self.principal.org_id},
            )

    # -- rules -----------------------------------------------------------------
    def _check_role(self, role: str | None, target: User | None = None) -> None:
        if (
            target is not None
            and target.id != self.me.id
            and rank(target.role) > rank(self.me.role)
        ):
            raise Refused(
                f"A {self.me.role} cannot change a {target.role} ({target.email}).",
                code="not_allowed",
                status=403,
            )
        if role is not None and rank(role) > rank(self.me.role):
            raise Refused(
                f"A {self.me.role} cannot make a user {role}.", code="not_allowed", status=403
            )

    def _manager(self, user: User, email: str) -> str:
        manager = self.by_email(email)
        if manager is None:
            raise Refused(
                f"{user.email}: the manager {email} is not a user here.",
                code="manager_not_found",
                status=422,
            )
        if manager.id == user.id:
            raise Refused(
                f"{user.email} cannot be their own manager.", code="manager_cycle", status=422
            )
        node, seen = manager.id, set()
        while node is not None and node not in seen:
            if node == user.id:
                raise Refused(
                    f"{user.email}: making {email} the manager would create a loop of managers.",
                    code="manager_cycle",
                    status=422,
                )
            seen.add(node)
            node = self._parent(node)
        return manager.id

    def _parent(self, user_id: str) -> str | None:
        if user_id not in self._parents:
            with self.session.no_autoflush:
                self._parents[user_id] = self.session.scalar(
                    select(User.manager_id).where(User.id == user_id)
                )
        return self._parents[user_id]

    def _audit(self, action: str, target: User | Group, detail: dict) -> None:
        self._events.append(
            audit.event(
                self.principal,
                action,
                target_type="group" if isinstance(target, Group) else "user",
                target_id=target.id,
                detail={**detail, "via": self.via},
            )
        )

    def _event(self, user: User, cls, **data) -> None:
        """A user's domain event (events.store), appended with the others by finish()."""
        new = cls is domain.UserCreated
        self._domain.append((stream_of("user", user.id), cls, {"email": user.email, **data}, new))

    def _losing_owner(self, user: User) -> None:
        if user.role == "owner" and user.status != "deactivated":
            if self.owners() <= 1:
                raise Refused(
                    f"{user.email} is the last owner: the organisation must keep one.",
                    code="last_owner",
                    hint="Make another user owner first.",
                )
            self._owners = self.owners() - 1

    def _gaining_owner(self, user: User) -> None:
        if user.role == "owner" and user.status != "deactivated":
            self._owners = self.owners() + 1

    # -- changes -----------------------------------------------------------------
    def invite(self, invite: UserInvite) -> Outcome:
        """One user invited through the API (``POST /v1/users``): ``create``'s rules, with the
        manager named by id (or, where the body has ``manager_email``, by email). Fields
        of ``BulkUserFields`` that a subclass of ``UserInvite`` adds (groups, location...)
        are taken too."""
        data = invite.model_dump(exclude={"email", "manager_id"}, exclude_none=True)
        if invite.manager_id and invite.manager_id.strip():
            if data.get("manager_email"):
                raise Refused(
                    "Name the manager by id or by email, not both.",
                    code="invalid_input",
                    status=422,
                )
            manager = (
                self.session.get(User, invite.manager_id.strip())
                if len(invite.manager_id.strip()) <= 36
                else None
            )
            if manager is None:
                raise Refused("User not found.", code="not_found", status=404)
            data["manager_email"] = manager.email
        data["external_id"] = _clean(data.get("external_id"))
        fields = BulkUserFields(
            **{k: v for k, v in data.items() if k in BulkUserFields.model_fields}
        )
        return self.create(invite.email, fields, action="user.invite")

    def create(self, email: str, fields: BulkUserFields, *, action: str = "user.create") -> Outcome:
        email = email.strip().lower()
        if self.by_email(email) is not None:
            raise Duplicate(f"A user with email {email} already exists.")
        role = fields.role or "member"
        self._check_role(role)
        if fields.external_id and self.session.scalar(
            select(User.id).where(User.external_id == fields.external_id)
        ):
            raise Duplicate(f"A user with external id {fields.external_id} already exists.")
        user = User(
            id=new_id(),
            email=email,
            role=role,
            status="invited" if fields.active is not False else "deactivated",
        )
        for name in PLAIN:
            setattr(user, name, _clean(getattr(fields, name)))
        user.attributes = dict(fields.attributes) if fields.attributes else None
        if user.status == "deactivated":
            user.deactivated_at = now()
        self.session.add(user)
        self._known[email] = user
        self._parents[user.id] = None
        if fields.manager_email:
            user.manager_id = self._parents[user.id] = self._manager(user, fields.manager_email)
        if fields.groups:
            groups = self._named_groups(fields.groups)
            user.groups = sorted(g.display_name for g in groups)
            self._members += [
                {"org_id": self.principal.org_id, "group_id": g.id, "user_id": user.id}
                for g in groups
            ]
        self._gaining_owner(user)
        self._invites.append(
            {
                "id": new_id(),
                "org_id": self.principal.org_id,
                "user_id": user.id,
                "email": email,
                "invited_by": self.me.id,
                "via": self.via,
                "status": "pending",
                "created_at": now(),
            }
        )
        self._audit(action, user, {"email": email, "role": role})
        self._event(user, domain.UserCreated, role=role, status=user.status, via=self.via)
        return Outcome(user, "created")

    def update(self, user: User, fields: BulkUserFields, *, clear: Iterable[str] = ()) -> Outcome:
        """Change the fields given; a field left out (None) stays as it is, unless it is
        named in ``clear`` (SCIM replaces whole resources). Given attributes are merged
        key by key, or replace them all when "attributes" is in ``clear``."""
        self._check_role(fields.role, user)
        clear = set(clear)
        changed: dict[str, object] = {}
        role_before = user.role
        for name in PLAIN:
            value = _clean(getattr(fields, name))
            if (value is not None or name in clear) and getattr(user, name) != value:
                changed[name] = value
        if fields.external_id and "external_id" in changed:
            other = self.session.scalar(
                select(User.id).where(User.external_id == fields.external_id)
            )
            if other and other != user.id:
                raise Duplicate(f"A user with external id {fields.external_id} already exists.")
        if fields.groups is not None:
            groups = self._named_groups(fields.groups)
            if sorted(g.display_name for g in groups) != sorted(user.groups or []):
                self._set_memberships(user, groups)
                changed["groups"] = sorted(g.display_name for g in groups) or None
        if fields.attributes or "attributes" in clear:
            new = dict(fields.attributes or {})
            merged = (new or None) if "attributes" in clear else {**(user.attributes or {}), **new}
            if merged != user.attributes and (merged or user.attributes):
                changed["attributes"] = merged
        if fields.manager_email is not None:
            manager_id = self._manager(user, fields.manager_email) if fields.manager_email else None
            if manager_id != user.manager_id:
                changed["manager_id"] = manager_id
        if fields.role is not None and fields.role != user.role:
            if user.role == "owner":
                self._losing_owner(user)
            changed["role"] = fields.role
        for name, value in changed.items():
            setattr(user, name, value)
        if "manager_id" in changed:
            self._parents[user.id] = changed["manager_id"]
        if fields.role == "owner" and "role" in changed:
            self._gaining_owner(user)
        if "role" in changed:
            self._event(user, domain.UserRoleChanged, **{"from": role_before, "to": user.role})
        outcome = Outcome(user, "updated" if changed else "unchanged", sorted(changed))
        if fields.active is False:
            if self.deactivate(user).outcome == "deactivated":
                outcome = Outcome(
                    user, "updated" if changed else "deactivated", sorted({*changed, "active"})
                )
        elif fields.active is True and user.status == "deactivated":
            self.reactivate(user)
            outcome = Outcome(
                user, "updated" if changed else "reactivated", sorted({*changed, "active"})
            )
        if changed:
            self._audit("user.update", user, {"email": user.email, "fields": sorted(changed)})
        return outcome

    def deactivate(self, user: User) -> Outcome:
        if user.id == self.me.id:
            raise Refused("You cannot deactivate yourself.", hint="Ask another admin.")
        self._check_role(None, user)
        if user.status == "deactivated":
            return Outcome(user, "unchanged")
        self._losing_owner(user)
        user.status, user.deactivated_at = "deactivated", now()
        self._audit("user.deactivate", user, {"email": user.email})
        self._event(user, domain.UserDeactivated)
        return Outcome(user, "deactivated", ["active"])

    def reactivate(self, user: User) -> Outcome:
        self._check_role(None, user)
        if user.status != "deactivated":
            return Outcome(user, "unchanged")
        user.status, user.deactivated_at, user.deprovisioned_at = "active", None, None
        self._gaining_owner(user)
        self._audit("user.reactivate", user, {"email": user.email})
        self._event(user, domain.UserReactivated)
        return Outcome(user, "reactivated", ["active"])

    def rename(self, user: User, email: str, user_name: str | None = None) -> bool:
        """Change a user's email and their login at an identity provider (SCIM userName,
        when it is not the email); False when nothing changes."""
        email, user_name = email.strip().lower(), _clean(user_name)
        if email == user.email and user_name == user.user_name:
            return False
        self._check_role(None, user)
        changed = []
        if email != user.email:
            if self.by_email(email) is not None:
                raise Duplicate(f"A user with email {email} already exists.")
            self._known[user.email], self._known[email] = None, user
            user.email = email
            changed.append("email")
        if user_name != user.user_name:
            if user_name and self.session.scalar(
                select(User.id).where(
                    func.lower(User.user_name) == user_name.lower(), User.id != user.id
                )
            ):
                raise Duplicate(f"A user with userName {user_name} already exists.")
            user.user_name = user_name
            changed.append("user_name")
        self._audit("user.update", user, {"email": email, "fields": changed})
        return True

    def keep_scim(self, user: User, document: dict | None) -> None:
        """Keep the rest of a user's SCIM representation (see ``User.scim``)."""
        if (document or None) != read_payload("user_scim", user.scim):
            user.scim = stored("user_scim", document) if document else None
            self._audit("user.update", user, {"email": user.email, "fields": ["scim"]})

    # -- batches -----------------------------------------------------------------
    def apply(self, items: list[BulkItem]) -> list[Outcome]:
        """Apply a batch in order; raises ``Refused`` naming the item at the first refusal."""
        self.preload([i.email for i in items] + [i.fields.manager_email or "" for i in items])
        outcomes = []
        for index, item in enumerate(items):
            try:
                outcomes.append(self._one(item))
            except Refused as exc:
                exc.message = f"Item {index} ({item.email}): {exc.message}"
                raise
        self.finish()
        return outcomes

    def finish(self) -> None:
        """Insert what was queued (call once after the last change)."""
        self.session.flush()
        if self._members:
            self.session.execute(insert(GroupMember), self._members)
        if self._invites:
            self.session.execute(insert(Invitation), self._invites)
        audit.record_many(self.session, self._events)
        if self._domain:  # last: on PostgreSQL the append holds the events table's lock
            fresh = {stream: 0 for stream, _, _, new in self._domain if new}
            append_many(
                self.session,
                self.principal,
                [item[:3] for item in self._domain],
                expected_versions=fresh,
            )
        self._invites, self._events, self._members, self._domain = [], [], [], []

    def _one(self, item: BulkItem) -> Outcome:
        if item.action == "create":
            return self.create(item.email, item.fields)
        user = self.by_email(item.email)
        if user is None:
            raise Refused(f"No user with email {item.email.lower()}.", code="not_found", status=404)
        if item.action == "update":
            return self.update(user, item.fields)
        if item.action == "deactivate":
            return self.deactivate(user)
        return self.reactivate(user)
