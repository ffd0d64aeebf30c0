"""SCIM resources and the server's rows (``storage.py``): the user resource Qylon
speaks (RFC 7643 core + enterprise extension, a required email), each row as a resource
and back, kept attributes overlaid, and a SCIM filter narrowed to SQL where it can be."""

from __future__ import annotations

import re
from typing import Annotated, Any

from scim2_models import (
    Address,
    Context,
    Email,
    EnterpriseUser,
    GroupMembership,
    InvalidValueException,
    Manager,
    Meta,
    Name,
    PhoneNumber,
    Required,
    Resource,
)
from scim2_models import Group as ScimGroup
from scim2_models import GroupMember as ScimMember
from scim2_models import User as ScimUser
from scim2_models.path import CompareOperator, Comparison, LogicalExpr, LogicalOperator
from sqlalchemy import ColumnElement, and_, func, or_

from qylon_cli import addresses

from ..models import Group, User
from ..payloads import read_payload


class RequiredEmail(Email):
    value: Annotated[str | None, Required.true] = None


class QylonUser(ScimUser):
    """A SCIM user as Qylon keeps it: an email is required (people sign in by email), which
    /Schemas says, so checkers and identity providers send one."""

    emails: Annotated[list[RequiredEmail] | None, Required.true] = None
    # a Qylon user is always active or not: the attribute cannot be removed (a creation
    # without it makes an active user)
    active: Annotated[bool | None, Required.true] = None


UserResource = QylonUser[EnterpriseUser]
# enterprise attributes kept among the user's custom attributes, by their SCIM names
KEPT = {
    "employee_number": "employeeNumber",
    "cost_center": "costCenter",
    "organization": "organization",
    "division": "division",
}
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
RESPONSE = Context.RESOURCE_QUERY_RESPONSE
# what the columns hold, so not kept in users.scim
MAPPED = (
    "id",
    "meta",
    "schemas",
    "userName",
    "displayName",
    "title",
    "active",
    "externalId",
    "groups",
)
# the user fields a SCIM replacement owns: cleared when the identity provider leaves them out
OWNED = {
    "given_name",
    "family_name",
    "display_name",
    "title",
    "phone",
    "location",
    "department",
    "external_id",
    "attributes",
}


def version(updated_at) -> str:
    return f'W/"{int(updated_at.timestamp() * 1_000_000):x}"'


def _email(text: str | None) -> str | None:
    try:
        return addresses.email((text or "").strip())
    except addresses.Bad:
        return None


def _phone(value: str | None, region: str | None) -> str | None:
    """An identity provider's phone number in E.164: written in any usual form, with its
    country code or, when the server has a phone region, as a national number there."""
    if not value or not value.strip():
        return None
    try:
        return addresses.phone(value.strip(), region=region)
    except addresses.Bad as exc:
        raise InvalidValueException(detail=f"phoneNumbers: {value!r}: {exc.message}") from None


def _has_enterprise(resource: UserResource) -> bool:
    try:
        return resource[EnterpriseUser] is not None
    except KeyError:
        return False


def _primary(values):
    values = [v for v in values or [] if v is not None]
    return next((v for v in values if v.primary), values[0] if values else None)


def _user_resource(user: User, groups: list[GroupMembership]) -> Resource[Any]:
    resource = UserResource(
        id=user.id,
        external_id=user.external_id,
        user_name=user.user_name or user.email,
        name=Name(given_name=user.given_name, family_name=user.family_name)
        if user.given_name or user.family_name
        else None,
        display_name=user.display_name,
        title=user.title,
        active=user.status != "deactivated",
        emails=[RequiredEmail(value=user.email, type="work", primary=True)],
        phone_numbers=[PhoneNumber(value=user.phone, type="work", primary=True)]
        if user.phone
        else None,
        addresses=[Address(locality=user.location, type="work", primary=True)]
        if user.location
        else None,
        groups=groups or None,
        meta=Meta(
            resource_type="User",
            created=user.created_at,
            last_modified=user.updated_at,
            version=version(user.updated_at),
        ),
    )
    attributes = user.attributes or {}
    extension = {field: attributes[key] for field, key in KEPT.items() if attributes.get(key)}
    if user.department:
        extension["department"] = user.department
    if user.manager_id:
        extension["manager"] = Manager(value=user.manager_id, ref=f"Users/{user.manager_id}")
    if extension:
        resource[EnterpriseUser] = EnterpriseUser(**extension)
    kept = read_payload("user_scim", user.scim)
    if not kept:
        return resource
    return UserResource.model_validate(
        _overlay(kept, resource.model_dump(scim_ctx=RESPONSE), user), scim_ctx=RESPONSE
    )


def _extra(resource: UserResource) -> dict:
    """What of a SCIM user the columns do not hold (see ``User.scim``)."""
    document = resource.model_dump(scim_ctx=RESPONSE)  # JSON-ready; leaves out the password
    return {k: v for k, v in document.items() if k not in MAPPED}


def _overlay(kept: dict, mapped: dict, user: User) -> dict:
    """The kept SCIM document with the columns' values on top. A kept list stays when it
    still holds the column's value (more emails, a phone's display); else the column's wins."""
    document = {
        **kept,
        **{
            k: v
            for k, v in mapped.items()
            if k not in ("name", "emails", "phoneNumbers", "addresses", ENTERPRISE)
        },
    }
    name = {
        k: v for k, v in (kept.get("name") or {}).items() if k not in ("givenName", "familyName")
    }
    name.update(mapped.get("name") or {})
    document["name"] = name
    holds = {"emails": user.email, "phoneNumbers": user.phone, "addresses": user.location}
    for key, value in holds.items():
        field = "locality" if key == "addresses" else "value"
        entries = kept.get(key) or []
        same = [e for e in entries if _same(key, str(e.get(field) or ""), str(value or ""))]
        if value is None:
            document.pop(key, None)
        elif not same:
            document[key] = mapped[key]
    extension = {
        k: v
        for k, v in (kept.get(ENTERPRISE) or {}).items()
        if k not in ("department", "manager", *KEPT.values())
    }
    extension.update(mapped.get(ENTERPRISE) or {})
    document[ENTERPRISE] = extension
    document["schemas"] = [USER_SCHEMA, ENTERPRISE] if extension else [USER_SCHEMA]
    return {k: v for k, v in document.items() if v not in (None, {}, [])}


def _same(key: str, kept: str, column: str) -> bool:
    """Whether a kept value is the column's: phones as the identity provider wrote them
    (``(425) 555-0100``) are the same as their E.164 form (``+14255550100``)."""
    if key == "phoneNumbers":
        digits = re.sub(r"\D", "", kept)
        return len(digits) >= 6 and re.sub(r"\D", "", column).endswith(digits)
    return kept.lower() == column.lower()


def _group_resource(group: Group, members: list[ScimMember]) -> Resource[Any]:
    return ScimGroup(
        id=group.id,
        external_id=group.external_id,
        display_name=group.display_name,
        members=members or None,
        meta=Meta(
            resource_type="Group",
            created=group.created_at,
            last_modified=group.updated_at,
            version=version(group.updated_at),
        ),
    )


# -- narrowing searches with SQL ---------------------------------------------------
def _columns(is_user: bool) -> dict[str, list[tuple[Any, str]]]:
    """SCIM attribute paths (lower-cased) -> the columns that hold them, and how their values
    compare: "lower" (stored lower-cased), "exact" (case-exact) or "any" (stored as sent)."""
    if is_user:
        email = [(User.email, "lower")]
        return {
            "username": [*email, (User.user_name, "any")],
            "emails": email,
            "emails.value": email,
            "id": [(User.id, "exact")],
            "externalid": [(User.external_id, "exact")],
            "displayname": [(User.display_name, "any")],
            "name.givenname": [(User.given_name, "any")],
            "name.familyname": [(User.family_name, "any")],
            "title": [(User.title, "any")],
        }
    return {
        "displayname": [(Group.name_key, "lower")],
        "id": [(Group.id, "exact")],
        "externalid": [(Group.external_id, "exact")],
    }


def _narrow(node, columns: dict[str, list[tuple[Any, str]]]) -> ColumnElement[bool] | None:
    """A SQL condition true for every row the filter can match (None: no narrowing).

    Case-insensitive, so it is a superset of what case-exact attributes match; the
    evaluator decides on each candidate."""
    if isinstance(node, LogicalExpr):
        parts = [_narrow(term, columns) for term in node.terms]
        if node.op == LogicalOperator.and_:
            kept = [p for p in parts if p is not None]
            return and_(*kept) if kept else None
        return or_(*parts) if all(p is not None for p in parts) else None
    if not isinstance(node, Comparison) or not isinstance(node.value, str):
        return None
    path = node.attr_path
    if path.uri and path.uri.lower() not in (
        "urn:ietf:params:scim:schemas:core:2.0:user",
        "urn:ietf:params:scim:schemas:core:2.0:group",
    ):
        return None
    key = f"{path.attr}.{path.sub_attr}" if path.sub_attr else path.attr
    if key.lower() not in columns:
        return None
    value = node.value.lower()
    patterns = {CompareOperator.co: "%{}%", CompareOperator.sw: "{}%", CompareOperator.ew: "%{}"}
    conditions = []
    for column, stored in columns[key.lower()]:
        if node.op == CompareOperator.eq:  # these use the unique indexes
            conditions.append(
                {"lower": column == value, "exact": column == node.value}.get(
                    stored, func.lower(column) == value
                )
            )
        elif node.op in patterns:
            escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conditions.append(
                func.lower(column).like(patterns[node.op].format(escaped), escape="\\")
            )
        else:
            return None
    return or_(*conditions)
