"""Match a CSV header to Qylon's user fields.

Names are compared case-, space- and punctuation-insensitively ("First Name",
"first_name" and "firstName" are the same). A bracketed part is looked at first:
Microsoft Entra ID writes ``Name [displayName] Required`` and only the property name in
brackets is stable across portal languages; Google Workspace writes notes there
(``[Required]``, ``[UPLOAD ONLY]``), which are dropped.

Several columns can feed one field (Entra's ``Mobile phone`` and ``Office phone``): the
first non-empty one, in the order of the alias lists below, wins. ``--map COLUMN=FIELD``
overrides everything for that field; ``FIELD`` may be ``attr:NAME`` or ``ignore``.
Columns named ``attr:NAME`` become custom attributes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from qylon_cli.errors import InvalidInput, UsageError

from .model import FIELDS
from .writer import FORMULA_STARTS

# Field -> normalised header names, best first. Pseudo-fields: "blocked" (Entra's "Block
# sign in", Yes = suspended) and "enabled" (true = active) both feed status.
ALIASES: dict[str, tuple[str, ...]] = {
    "email": (
        "email",
        "emailaddress",
        "primaryemail",
        "workemail",
        "mail",
        "userprincipalname",
        "upn",
        "inviteeemail",
        "login",
        "username",
    ),
    "first_name": ("firstname", "givenname", "first", "forename"),
    "last_name": ("lastname", "surname", "familyname", "last"),
    "display_name": ("displayname", "fullname", "name"),
    "role": ("role", "qylonrole"),
    "team": ("team", "teamname"),
    "groups": ("groups", "group", "teams"),
    "manager": ("manager", "manageremail", "managerupn", "reportsto"),
    "title": ("title", "jobtitle", "employeetitle", "position"),
    "department": ("department", "dept"),
    "location": ("location", "office", "physicaldeliveryofficename", "officelocation", "city"),
    "start_date": ("startdate", "hiredate", "employeehiredate", "hiredon", "joindate"),
    "phone": (
        "phone",
        "phonenumber",
        "mobilephone",
        "mobile",
        "workphone",
        "telephonenumber",
        "businessphone",
        "officephone",
        "primaryphone",
    ),
    "time_zone": ("timezone", "tz", "zoneinfo", "timezonename"),
    "status": ("status", "newstatus", "accountstatus"),
    "blocked": ("blocksignin",),
    "enabled": ("accountenabled", "enabled", "active"),
}

# Columns of the directory templates that Qylon knows and deliberately does not use.
IGNORED: dict[str, str] = {
    **dict.fromkeys(
        (
            "password",
            "passwordprofile",
            "initialpassword",
            "passwordhashfunction",
            "changepasswordatnextsignin",
        ),
        "passwords are never imported",
    ),
    **dict.fromkeys(
        (
            "orgunitpath",
            "newprimaryemail",
            "newlicenses",
            "advancedprotectionprogramenrollment",
            "buildingid",
            "floorname",
            "floorsection",
            "costcenter",
            "employeeid",
            "employeetype",
            "employeenumber",
            "usertype",
            "organization",
            "division",
        ),
        "directory-only setting",
    ),
    **dict.fromkeys(
        (
            "recoveryemail",
            "homesecondaryemail",
            "worksecondaryemail",
            "secondemail",
            "recoveryphone",
            "homephone",
            "homeaddress",
            "workaddress",
            "streetaddress",
            "postaladdress",
            "zipcode",
            "postalcode",
            "state",
            "country",
            "countrycode",
            "usagelocation",
            "middlename",
            "honorificprefix",
            "honorificsuffix",
            "nickname",
            "profileurl",
            "preferredlanguage",
            "locale",
        ),
        "not a Qylon field",
    ),
    **dict.fromkeys(
        ("inviteredirecturl", "sendemail", "customizedmessagebody"), "Entra invitation setting"
    ),
    "managerid": "an Okta user id, not an email",
}
OKTA_MANAGER = "Okta's manager column holds a display name, not an email"

_BRACKET = re.compile(r"\[([^\]]*)\]")
_ALIAS_INDEX = {alias: name for name, aliases in ALIASES.items() for alias in aliases}
_ATTR_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def _unguard(value: str) -> str:
    """Drop the apostrophe a writer puts before a formula-like value (``'=SUM``)."""
    return value[1:] if value[:1] == "'" and value[1:2] in FORMULA_STARTS else value


def normalise(name: str) -> str:
    """``"First Name"``, ``"first_name"`` and ``"firstName"`` all become ``"firstname"``."""
    return re.sub(r"[^0-9a-z]", "", name.casefold())


def _candidates(header: str) -> list[str]:
    """Names to try for a header cell: the bracketed property first, then the label."""
    inside = [normalise(m) for m in _BRACKET.findall(header)]
    label = _BRACKET.sub(" ", header)
    if normalise(label).startswith("blocksignin"):
        return ["blocksignin"]  # Entra's [accountEnabled] column, but meaning the opposite
    label = re.sub(r"\((?:yes/no|true/false|true or false)\)", " ", label, flags=re.IGNORECASE)
    label = re.sub(r"\b(required|optional)\s*$", "", label.strip(), flags=re.IGNORECASE)
    return [*inside, normalise(label)]


@dataclass
class ColumnMap:
    """Which column feeds which field, and what was left out (with why)."""

    header: list[str]
    fields: dict[str, list[int]] = field(default_factory=dict)
    attributes: dict[str, int] = field(default_factory=dict)
    ignored: list[tuple[str, str]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    def column(self, index: int) -> str:
        name = self.header[index] if index < len(self.header) else ""
        return name or f"column {index + 1}"

    def describe(self) -> dict:
        return {
            "fields": {name: [self.column(i) for i in cols] for name, cols in self.fields.items()},
            "attributes": {name: self.column(i) for name, i in self.attributes.items()},
            "ignored": [{"column": c, "reason": r} for c, r in self.ignored],
            "unknown": list(self.unknown),
        }

    def extract(
        self, cells: list[str]
    ) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
        """The row's non-empty values: ``({field: (value, column)}, {attr: (value, column)})``."""
        width = len(cells)
        values: dict[str, tuple[str, str]] = {}
        for name, indexes in self.fields.items():
            for i in indexes:
                if i < width:
                    value = _unguard(cells[i].strip())
                    if value:
                        values[name] = (value, self.header[i])
                        break
        attrs = {}
        for name, i in self.attributes.items():
            if i < width and cells[i].strip():
                attrs[name] = (_unguard(cells[i].strip()).replace("\r\n", "\n"), self.header[i])
        return values, attrs


def parse_overrides(pairs: Iterable[str]) -> dict[str, str]:
    """``["Work Mail=email", "Cost Center=attr:cost_center"]`` -> {normalised column: field}."""
    result: dict[str, str] = {}
    allowed = set(FIELDS)
    for pair in pairs:
        column, sep, target = pair.partition("=")
        column, target = column.strip(), target.strip()
        if not sep or not column or not target:
            raise UsageError(
                f"--map takes COLUMN=FIELD, not {pair!r}.", hint="Example: --map 'Work Mail=email'"
            )
        if target.lower() in ("ignore", "-"):
            target = "ignore"
        elif target.lower().startswith("attr:"):
            if not _ATTR_NAME.match(target[5:]):
                raise UsageError(
                    f"--map {pair!r}: attribute names use letters, digits, _ . - (64 at most)."
                )
        elif target not in allowed:
            raise UsageError(
                f"--map {pair!r}: unknown field {target!r}.",
                hint="Fields: " + ", ".join(FIELDS) + ", attr:NAME or ignore.",
            )
        result[normalise(column)] = target
    return result


def resolve(header: list[str], overrides: dict[str, str] | None = None) -> ColumnMap:
    """Map each header cell to a field; raise InvalidInput when there is no email column."""
    unused = dict(overrides or {})
    cmap = ColumnMap(header=list(header))
    ranked, explicit = _match_cells(cmap, unused)
    if unused:
        missing = ", ".join(sorted(unused))
        raise UsageError(
            f"--map names columns the file does not have: {missing}.",
            hint="Header: " + ", ".join(header),
        )
    _choose_columns(cmap, ranked, explicit)
    _one_source_of_status(cmap)
    if "email" not in cmap.fields:
        raise InvalidInput(
            "No email column: Qylon needs one to identify each user.",
            hint="Name a column email (or Email Address, userPrincipalName, login), "
            "or map yours: --map 'Work Mail=email'. Header: " + ", ".join(header),
            code="no_email_column",
        )
    return cmap


def _match_cells(
    cmap: ColumnMap, overrides: dict[str, str]
) -> tuple[dict[str, list[tuple[int, int]]], dict[str, list[int]]]:
    """Look at each header cell once, in order: a ``--map`` override (removed from
    ``overrides`` when used), an ``attr:NAME`` column, a repeated column, Okta's manager
    column, then the aliases. Attributes, ignored and unknown columns go straight into
    ``cmap``; returns the alias matches ``{field: [(rank, index)]}`` and the ``--map``
    choices ``{field: [index]}``."""
    keys = [normalise(cell) for cell in cmap.header]
    okta = {"login", "managerid"} <= set(keys)
    ranked: dict[str, list[tuple[int, int]]] = {}
    explicit: dict[str, list[int]] = {}
    seen: set[str] = set()
    for index, (cell, key) in enumerate(zip(cmap.header, keys)):
        if key in overrides:
            _apply_override(cmap, explicit, index, overrides.pop(key))
        elif cell.lower().startswith("attr:") and _ATTR_NAME.match(cell[5:].strip()):
            cmap.attributes[cell[5:].strip()] = index
        elif key and key in seen:
            cmap.ignored.append((cmap.column(index), "the same column appears earlier"))
        else:
            seen.add(key)
            if okta and key == "manager":
                cmap.ignored.append((cmap.column(index), OKTA_MANAGER))
            else:
                _match_alias(cmap, ranked, index)
    return ranked, explicit


def _apply_override(
    cmap: ColumnMap, explicit: dict[str, list[int]], index: int, target: str
) -> None:
    """Use column ``index`` as ``--map`` says: ignore it, an attribute, or a field."""
    if target == "ignore":
        cmap.ignored.append((cmap.column(index), "--map ignore"))
    elif target.startswith("attr:"):
        cmap.attributes[target[5:]] = index
    else:
        explicit.setdefault(target, []).append(index)


def _match_alias(cmap: ColumnMap, ranked: dict[str, list[tuple[int, int]]], index: int) -> None:
    """The first of the cell's candidate names that is a known alias (ranked by its place
    in the field's list) or a known column Qylon leaves out; else the column is unknown."""
    for candidate in _candidates(cmap.header[index]):
        if candidate in _ALIAS_INDEX:
            target = _ALIAS_INDEX[candidate]
            ranked.setdefault(target, []).append((ALIASES[target].index(candidate), index))
            return
        if candidate in IGNORED:
            cmap.ignored.append((cmap.column(index), IGNORED[candidate]))
            return
    cmap.unknown.append(cmap.column(index))


def _choose_columns(
    cmap: ColumnMap, ranked: dict[str, list[tuple[int, int]]], explicit: dict[str, list[int]]
) -> None:
    """Each field's columns, best alias first; a field ``--map`` chose for takes only the
    mapped columns, and the columns that matched it by name are ignored."""
    for name, cols in ranked.items():
        if name in explicit:
            cmap.ignored.extend(
                (cmap.column(i), f"--map chose another column for {name}") for _, i in cols
            )
            continue
        cmap.fields[name] = [i for _, i in sorted(cols)]
    cmap.fields.update(explicit)


def _one_source_of_status(cmap: ColumnMap) -> None:
    """A status column wins over the pseudo-fields (``blocked``, ``enabled``) that also
    give a status: their columns are ignored."""
    for pseudo in ("blocked", "enabled"):
        if pseudo in cmap.fields and "status" in cmap.fields:
            cmap.ignored.extend(
                (cmap.column(i), "status comes from another column")
                for i in cmap.fields.pop(pseudo)
            )


# Templates whose rows mean "remove these users", not "these users should exist".
TEMPLATES = {"entra-delete": "Microsoft Entra ID bulk delete"}


def template(header: list[str], version_line: str | None) -> str | None:
    """``"entra-delete"`` when the header is Entra ID's bulk delete template: the
    ``version:v1.0`` line, then the single column ``User name [userPrincipalName] Required``
    (matched on the bracketed property, as localised portals keep it); else None."""
    cells = [cell for cell in header if cell.strip()]
    if (
        version_line
        and len(cells) == 1
        and _BRACKET.search(cells[0])
        and _candidates(cells[0])[0] == "userprincipalname"
    ):
        return "entra-delete"
    return None


def status_instruction(cmap: ColumnMap) -> bool:
    """True when status comes only from Google's ``New Status [UPLOAD ONLY]`` column: an
    instruction to change existing accounts (Suspended suspends), never a new user's state."""
    cols = cmap.fields.get("status", [])
    return bool(cols) and all(
        normalise(_BRACKET.sub(" ", cmap.header[i])) == "newstatus" for i in cols
    )
