"""One person's fields, as the one-person commands take them (`qylon users add`,
`update`, `set-role`), checked with the same parsers as an import's cells (``fields``)
and turned into the server's field names.

Nothing here talks to the server: ``body`` raises ``InvalidInput`` (exit 3) naming the
option at fault, before anything changes.
"""

from __future__ import annotations

from collections.abc import Iterable

from qylon_cli.errors import InvalidInput

# option (as the commands name them) -> the server's field
SERVER = {
    "first_name": "given_name",
    "last_name": "family_name",
    "name": "display_name",
    "role": "role",
    "manager": "manager_email",
    "title": "title",
    "department": "department",
    "team": "team",
    "location": "location",
    "phone": "phone",
    "start_date": "start_date",
    "groups": "groups",
    "external_id": "external_id",
}


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check(name: str, value: str, *, region: str | None, date_order: str):
    from . import fields

    if name == "role":
        return fields.role(value)
    if name == "manager":
        return fields.email(value, what="manager")
    if name == "phone":
        return fields.phone(value, region=region)
    if name == "start_date":
        return fields.start_date(value, order=date_order).isoformat()
    if name in ("first_name", "last_name", "name"):
        return fields.name(value)
    return fields.text(value)


def role(value: str) -> str:
    """A role (owner, admin, manager, member; any case), else ``InvalidInput``."""
    from qylon_cli.addresses import Bad

    from . import fields

    try:
        return fields.role(value.strip())
    except Bad as bad:
        raise InvalidInput(
            f"{bad.message} (value: {value}).", code=bad.code, hint="Nothing was changed."
        ) from None


def email(value: str) -> str:
    from qylon_cli.addresses import Bad

    from . import fields

    try:
        return fields.email(value)
    except Bad as bad:
        raise InvalidInput(f"{value}: {bad.message}.", code=bad.code) from None


def body(
    given: dict[str, str | list[str] | None],
    *,
    clear: bool,
    attributes: Iterable[str] = (),
    region: str | None = None,
    date_order: str = "auto",
) -> dict:
    """The server's fields for the options given (None: not given). An empty value means
    "clear it" when ``clear`` (an update: sent as null), else it is left out. ``groups``
    is a list of values, each a name or several joined by , ; or |. ``attributes`` are
    ``NAME=VALUE`` strings."""
    from qylon_cli.addresses import Bad

    from . import fields

    out: dict = {}
    for name, value in given.items():
        if value is None:
            continue
        option = _option(name)
        try:
            if name == "groups":
                names = [g for v in value for g in fields.groups(v)]
                if names or clear:
                    out["groups"] = names
            elif not value.strip():
                if name == "role":
                    raise Bad("role_invalid", "role must be one of owner, admin, manager, member")
                if clear:
                    out[SERVER[name]] = None
            else:
                out[SERVER[name]] = _check(
                    name, value.strip(), region=region, date_order=date_order
                )
        except Bad as bad:
            raise InvalidInput(
                f"{option}: {bad.message} (value: {value}).",
                code=bad.code,
                hint="Nothing was changed.",
            ) from None
    found = {}
    for item in attributes:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(
                f"--attr: expected NAME=VALUE, got {item!r}.",
                code="attribute_invalid",
                hint="Nothing was changed.",
            )
        found[key.strip()] = value.strip()
    if found:
        out["attributes"] = found
    return out
