"""Turn validated rows and the users that already exist into a plan.

Modes:

- ``upsert`` (default): create users not there yet, update those whose given fields
  differ; a field the file leaves empty is left as it is;
- ``create-only``: create new users, skip the ones that exist (nothing is updated);
- ``sync``: as upsert, and deactivate active users that the file does not list —
  never the caller, and never the last active owner.

Deactivations also come from the rows themselves, in any mode: a row that sets an
existing active user's status to suspended plans as **deactivate** (not update), and a
*delete file* (``deletes=True``: Microsoft Entra ID's bulk delete template, or
``--deactivate``) plans every row as a deactivation. Such a row never creates: a user
that does not exist is an error (``user_not_found``), as is a row deactivating the
caller (``deactivate_self``). ``offline`` planning (``users validate``, no users known)
shows those rows as deactivations without checking who exists.

The planner streams: ``Planner.item(row, user)`` for each row as it comes, then
``Planner.finish()`` for deactivations and the checks across the whole plan. It keeps
the existing users (keyed by email) and the set of emails seen, nothing per row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping

from qylon_cli import addresses
from qylon_cli.errors import UsageError

from .mask import mask_email
from .model import FIELDS, MODES, PlanItem, RowError, UserRow

_COMPARED = [f for f in FIELDS if f != "email"]


def _value(user: UserRow, name: str):
    value = getattr(user, name)
    if name == "groups" and value is not None:
        return sorted(value)
    return value


def _same(name: str, current, wanted) -> bool:
    if name == "groups" and current is not None and wanted is not None:
        # the server matches group names case-insensitively, so must the plan
        return {g.casefold() for g in current} == {g.casefold() for g in wanted}
    return current == wanted


def _jsonable(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


def diff(old: UserRow, new: UserRow) -> dict[str, dict]:
    """The fields ``new`` gives that differ from ``old``: {field: {"from", "to"}}."""
    changes: dict[str, dict] = {}
    for name in _COMPARED:
        wanted = _value(new, name)
        if wanted is None:
            continue
        current = _value(old, name)
        if not _same(name, current, wanted):
            changes[name] = {"from": _jsonable(current), "to": _jsonable(wanted)}
    for key, wanted in new.attributes.items():
        current = old.attributes.get(key)
        if current != wanted:
            changes[f"attr:{key}"] = {"from": current, "to": wanted}
    return changes


def _active(user: UserRow) -> bool:
    return (user.status or "active") == "active"


def _owner(user: UserRow) -> bool:
    return user.role == "owner" and _active(user)


# Existing users are kept packed as tuples (a fifth of a pydantic model's memory: a
# 100,000-user organisation fits in tens of MB) and become UserRow when compared.
_KEYS = (*FIELDS, "attributes")
_ROLE, _STATUS = _KEYS.index("role"), _KEYS.index("status")


def _pack(data: Mapping | UserRow) -> tuple:
    if isinstance(data, UserRow):
        data = data.model_dump()
    return tuple(data.get(k) for k in _KEYS)


def _unpack(packed: tuple) -> UserRow:
    return UserRow.model_validate(
        {k: v for k, v in zip(_KEYS, packed, strict=True) if v is not None}
    )


def _packed_active(packed: tuple) -> bool:
    return (packed[_STATUS] or "active") == "active"


def _packed_owner(packed: tuple) -> bool:
    return packed[_ROLE] == "owner" and _packed_active(packed)


class Planner:
    """Plan rows one at a time against ``existing`` users (dicts in UserRow's shape)."""

    def __init__(
        self,
        existing: Iterable[Mapping] = (),
        *,
        mode: str = "upsert",
        caller: str | None = None,
        groups: Iterable[str] | None = None,
        create_groups: bool = True,
        deletes: bool = False,
        status_instruction: bool = False,
        offline: bool = False,
    ):
        """``groups``: the groups that exist (None: not known, nothing checked); a row
        naming another is an error unless ``create_groups``, which lists it in ``new_groups``.
        ``deletes``: every row names a user to deactivate (a delete file).
        ``status_instruction``: the status column changes existing accounts (Google's
        ``New Status [UPLOAD ONLY]``), so a suspended row for an unknown user is an error,
        not a suspended account to create. ``offline``: the users that exist are not known
        (``users validate``): deactivating rows are not checked against them."""
        if mode not in MODES:
            raise UsageError(f"Unknown mode {mode!r}.", hint="Use " + ", ".join(MODES) + ".")
        if deletes and mode == "sync":
            raise UsageError(
                "A delete file cannot be imported with --mode sync.",
                hint="Every row of it is a user to deactivate; use the default mode.",
            )
        self.mode = mode
        self.deletes, self.status_instruction, self.offline = deletes, status_instruction, offline
        self.caller = caller.lower() if caller else None
        self.existing: dict[str, tuple] = {}  # email -> packed user (see _pack)
        for data in existing:
            self.existing[
                str(data["email"] if isinstance(data, Mapping) else data.email).lower()
            ] = _pack(data)
        self.seen: set[str] = set()
        self.counts: Counter[str] = Counter()
        self.problems: list[RowError] = []
        self._owner_changes = 0  # active owners added (+) or removed (-) by the rows
        self._owner_rows: list[int] = []
        self.unidentified = 0  # rejected rows without a valid email
        self.missing = 0  # sync deactivations: active users the file does not list
        self.groups = {g.casefold(): g for g in groups} if groups is not None else None
        self.create_groups = create_groups
        self.new_groups: dict[str, str] = {}  # casefold -> name, groups the import will create
        self._skeletons: dict[str, str] | None = (
            None  # look-alike form -> existing email (on first need)
        )

    def restart(self) -> Planner:
        """A fresh planner (same mode, caller and groups) over the same existing users,
        without converting them again: to plan a second pass, e.g. while applying."""
        fresh = Planner(
            (),
            mode=self.mode,
            caller=self.caller,
            groups=None,
            create_groups=self.create_groups,
            deletes=self.deletes,
            status_instruction=self.status_instruction,
            offline=self.offline,
        )
        fresh.existing, fresh.groups = self.existing, self.groups
        return fresh

    def _unknown_groups(self, row: int, user: UserRow) -> PlanItem | None:
        """An error item when the row names groups that do not exist and may not be made."""
        if self.groups is None or not user.groups:
            return None
        unknown = [g for g in user.groups if g.casefold() not in self.groups]
        if not unknown:
            return None
        if self.create_groups:
            for name in unknown:
                self.new_groups.setdefault(name.casefold(), name)
            return None
        message = (
            f"the group{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
            f"{'do' if len(unknown) > 1 else 'does'} not exist; pass --create-groups to create "
            f"{'them' if len(unknown) > 1 else 'it'}"
        )
        self.problems.append(
            RowError(
                row=row,
                field="groups",
                code="group_not_found",
                message=message,
                value="; ".join(unknown),
            )
        )
        self.counts["error"] += 1
        self.seen.add(user.email)
        return PlanItem(action="error", email=user.email, row=row, errors=[message])

    def _look_alike(self, email: str) -> str | None:
        """A warning when a new address is drawn like an existing user's (another script's letters)."""
        if email.isascii():
            return None
        if self._skeletons is None:
            self._skeletons = {addresses.skeleton(e): e for e in self.existing}
        twin = self._skeletons.get(addresses.skeleton(email))
        if twin is None or twin == email:
            return None
        return f"looks like the existing user {twin} (letters from another script): check it is not an impersonation"

    def item(
        self,
        row: int,
        user: UserRow | None,
        errors: list[str] | None = None,
        email: str | None = None,
    ) -> PlanItem:
        """The plan for one file row (``user`` None when the row was rejected; ``email``
        then is its email if that much was valid)."""
        if user is None:
            self.counts["error"] += 1
            if email:
                self.seen.add(email)  # listed, though rejected: not a user to deactivate
            else:
                self.unidentified += 1
            return PlanItem(action="error", email=email or "", row=row, errors=errors or [])
        if self.deletes:
            return self._delete_row(row, user)
        refused = self._unknown_groups(row, user)
        if refused is not None:
            return refused
        email = user.email
        packed = self.existing.get(email)
        old = _unpack(packed) if packed is not None else None
        suspends = user.status == "suspended" and self.status_instruction
        if old is None and suspends:
            return self._deactivate_unknown(row, user)
        if old is None:
            self.counts["create"] += 1
            if user.role == "owner" and _active(user):
                self._owner_changes += 1
            return PlanItem(
                action="create", email=email, row=row, user=user, reason=self._look_alike(email)
            )
        self.seen.add(email)  # only existing users: sync needs to know who the file lists
        if self.mode == "create-only":
            self.counts["skip"] += 1
            return PlanItem(
                action="skip", email=email, row=row, reason="already exists (mode create-only)"
            )
        changes = diff(old, user)
        if not changes:
            self.counts["unchanged"] += 1
            return PlanItem(action="unchanged", email=email, row=row)
        merged = old.model_copy(
            update={
                k: v for k, v in user.model_dump(exclude_none=True).items() if k != "attributes"
            }
        )
        deactivates = changes.get("status", {}).get("to") == "suspended"
        if deactivates and email == self.caller:
            return self._problem(row, user, "deactivate_self", "you cannot deactivate yourself")
        if _owner(old) and not _owner(merged):
            self._owner_changes -= 1
            self._owner_rows.append(row)
        elif _owner(merged) and not _owner(old):
            self._owner_changes += 1
        action = "deactivate" if deactivates else "update"
        self.counts[action] += 1
        return PlanItem(action=action, email=email, row=row, changes=changes, user=user)

    def _problem(self, row: int, user: UserRow, code: str, message: str) -> PlanItem:
        """An error found while planning (the row is rejected like a row with a bad cell)."""
        self.problems.append(
            RowError(
                row=row, field="email", code=code, message=message, value=mask_email(user.email)
            )
        )
        self.counts["error"] += 1
        self.seen.add(user.email)
        return PlanItem(action="error", email=user.email, row=row, errors=[message])

    def _deactivate_unknown(self, row: int, user: UserRow) -> PlanItem:
        """A row that deactivates a user the server does not have: never a create."""
        if self.offline:
            self.counts["deactivate"] += 1
            return PlanItem(
                action="deactivate",
                email=user.email,
                row=row,
                reason="deactivated on import, if the user exists",
            )
        return self._problem(
            row,
            user,
            "user_not_found",
            "no user has this email, so there is no one to deactivate (a row that deactivates "
            "never creates): check the address",
        )

    def _delete_row(self, row: int, user: UserRow) -> PlanItem:
        """A row of a delete file: deactivate the user it names."""
        email = user.email
        packed = self.existing.get(email)
        if packed is None:
            return self._deactivate_unknown(row, user)
        self.seen.add(email)
        if not _packed_active(packed):
            self.counts["unchanged"] += 1
            return PlanItem(action="unchanged", email=email, row=row, reason="already deactivated")
        if email == self.caller:
            return self._problem(row, user, "deactivate_self", "you cannot deactivate yourself")
        if _packed_owner(packed):
            self._owner_changes -= 1
            self._owner_rows.append(row)
        self.counts["deactivate"] += 1
        return PlanItem(action="deactivate", email=email, row=row, reason="listed in a delete file")

    def finish(self) -> list[PlanItem]:
        """Deactivations (mode sync) and the last-owner rule; call after the last row."""
        owners = sum(1 for u in self.existing.values() if _packed_owner(u)) + self._owner_changes
        had_owner = any(_packed_owner(u) for u in self.existing.values())
        if had_owner and owners <= 0 and self._owner_rows:
            for row in self._owner_rows:
                self.problems.append(
                    RowError(
                        row=row,
                        column=None,
                        field="role",
                        code="last_owner",
                        message="this change would leave the team without an active owner",
                    )
                )
        items: list[PlanItem] = []
        if self.mode != "sync":
            return items
        for email in sorted(self.existing):
            if email in self.seen or not _packed_active(self.existing[email]):
                continue
            user = _unpack(self.existing[email])
            if email == self.caller:
                items.append(
                    PlanItem(action="skip", email=email, reason="not in the file, but it is you")
                )
                self.counts["skip"] += 1
                continue
            if self.unidentified:
                items.append(
                    PlanItem(
                        action="skip",
                        email=email,
                        reason=(
                            f"not in the file, but {self.unidentified} rejected row(s) have no valid email: "
                            "deactivations wait until every row names its user"
                        ),
                    )
                )
                self.counts["skip"] += 1
                continue
            if _owner(user) and owners <= 1:
                items.append(
                    PlanItem(
                        action="skip", email=email, reason="not in the file, but the last owner"
                    )
                )
                self.counts["skip"] += 1
                continue
            if _owner(user):
                owners -= 1
            items.append(
                PlanItem(action="deactivate", email=email, reason="not in the file (mode sync)")
            )
            self.counts["deactivate"] += 1
            self.missing += 1
        return items

    def active_users(self) -> int:
        """How many of the existing users are active."""
        return sum(1 for u in self.existing.values() if _packed_active(u))

    def summary(self) -> dict[str, int]:
        return {
            name: self.counts.get(name, 0)
            for name in ("create", "update", "unchanged", "skip", "deactivate", "error")
        }


def plan_all(
    users: Iterable[tuple],
    existing: Iterable[Mapping] = (),
    *,
    mode: str = "upsert",
    caller: str | None = None,
    errors: Mapping[int, list[str]] | None = None,
) -> tuple[list[PlanItem], Planner]:
    """Plan everything in memory (small files, tests). Large files: use ``iter_plan``."""
    planner = Planner(existing, mode=mode, caller=caller)
    return list(iter_plan(users, planner, errors)), planner


def iter_plan(
    users: Iterable[tuple],
    planner: Planner,
    errors: Mapping[int, list[str]] | None = None,
) -> Iterator[PlanItem]:
    """Stream the plan: one item per ``(row, user)`` or ``(row, user, email)`` (as
    ``Validation.entries()`` gives; ``errors`` has rejected rows' messages), then the
    deactivations."""
    errors = errors or {}
    for row, user, *email in users:
        yield planner.item(row, user, errors.get(row), email[0] if email else None)
    yield from planner.finish()


# -- the brake on sync ---------------------------------------------------------------


def parse_max_deactivate(text: str) -> tuple[int | None, float | None]:
    """``"20"`` -> (20, None); ``"10%"`` -> (None, 10.0). UsageError for anything else."""
    value = text.strip()
    try:
        if value.endswith("%"):
            percent = float(value[:-1])
            if 0 <= percent <= 100:
                return None, percent
        elif int(value) >= 0:
            return int(value), None
    except ValueError:
        pass
    raise UsageError(
        f"--max-deactivate takes a number of users or a percentage, not {text!r}.",
        hint="Examples: --max-deactivate 20, --max-deactivate 10%, --max-deactivate 100% (no limit).",
    )


def check_deactivations(planner: Planner, max_deactivate: str) -> None:
    """Refuse (InvalidInput, code ``too_many_deactivations``) a sync that would deactivate
    more of the active users than ``max_deactivate`` allows: a count, or a percentage of
    the active users, rounded up."""
    import math

    from qylon_cli.errors import InvalidInput

    count, percent = parse_max_deactivate(max_deactivate)
    if planner.mode != "sync" or not planner.missing:
        return
    active = planner.active_users()
    allowed = count if count is not None else math.ceil(active * percent / 100)
    if planner.missing <= allowed:
        return
    share = f" ({planner.missing * 100 / active:.0f}%)" if active else ""
    raise InvalidInput(
        f"The sync would deactivate {planner.missing} of {active} active users{share}: more "
        f"than --max-deactivate {max_deactivate} allows ({allowed}). Nothing was changed.",
        hint="Check the file lists everyone who stays (a cut-off export deactivates the rest). "
        f"If these deactivations are meant, pass --max-deactivate {planner.missing} "
        "(or 100%).",
        code="too_many_deactivations",
    )
