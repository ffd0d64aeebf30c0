"""/v1/groups: list, read, create and delete groups, and add or remove one member.

Changes go through ``services/groups.py`` (the provisioner's rules, one audit event each);
SCIM (``/scim/v2/Groups``) and imports (``groups`` column) change groups too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from qylon_cli.schemas import GroupInfo, GroupPage

from ..deps import Allowed
from ..errors import ERROR_RESPONSES
from ..models import Group, GroupMember
from ..models import User as UserRow
from ..services import groups
from ..services.rows import get_or_404
from .pages import Offset

router = APIRouter(tags=["groups"], responses=ERROR_RESPONSES)

GroupLimit = Annotated[int, Query(ge=1, le=1000, description="At most this many groups.")]


class GroupCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=r"\S")
    external_id: str | None = Field(None, max_length=255)


class GroupMemberInfo(BaseModel):
    id: str
    email: str
    display_name: str | None = None
    role: str
    status: str


class GroupDetail(GroupInfo):
    users: list[GroupMemberInfo] = Field(description="The members, by email.")
    updated_at: datetime


def info(session, group: Group) -> GroupInfo:
    return GroupInfo(
        id=group.id,
        name=group.display_name,
        external_id=group.external_id,
        members=groups.member_count(session, group),
        created_at=group.created_at,
    )


@router.get("/v1/groups", response_model=GroupPage)
def list_groups(
    ctx: Allowed("users:read"), limit: GroupLimit = 1000, offset: Offset = 0
) -> GroupPage:
    """List groups by name, with how many users each holds."""
    s = ctx.session
    total = s.scalar(select(func.count()).select_from(Group)) or 0
    members = (
        select(GroupMember.group_id, func.count().label("n"))
        .group_by(GroupMember.group_id)
        .subquery()
    )
    rows = s.execute(
        select(Group, func.coalesce(members.c.n, 0))
        .outerjoin(members, members.c.group_id == Group.id)
        .order_by(Group.name_key)
        .limit(limit)
        .offset(offset)
    )
    items = [
        GroupInfo(
            id=g.id,
            name=g.display_name,
            external_id=g.external_id,
            members=n,
            created_at=g.created_at,
        )
        for g, n in rows
    ]
    return GroupPage(items=items, total=total)


@router.post("/v1/groups", status_code=201, response_model=GroupInfo)
def create_group(body: GroupCreate, ctx: Allowed("users:write")) -> GroupInfo:
    """Create an empty group; its name is unique in the organisation, case-insensitively."""
    row = groups.create(ctx.session, ctx.principal, name=body.name, external_id=body.external_id)
    return info(ctx.session, row)


@router.get("/v1/groups/{group_id}", response_model=GroupDetail)
def read_group(group_id: str, ctx: Allowed("users:read")) -> GroupDetail:
    """One group and its members."""
    row = groups.get(ctx.session, group_id)
    people = groups.members(ctx.session, row)
    return GroupDetail(
        **info(ctx.session, row).model_dump(),
        updated_at=row.updated_at,
        users=[GroupMemberInfo.model_validate(u, from_attributes=True) for u in people],
    )


@router.delete("/v1/groups/{group_id}", status_code=204, response_class=Response)
def delete_group(group_id: str, ctx: Allowed("users:write")) -> Response:
    """Delete a group; its members stay users, without it."""
    groups.delete(ctx.session, ctx.principal, group=groups.get(ctx.session, group_id))
    return Response(status_code=204)


@router.put("/v1/groups/{group_id}/members/{user_id}", response_model=GroupInfo)
def add_member(group_id: str, user_id: str, ctx: Allowed("users:write")) -> GroupInfo:
    """Put a user in a group (nothing changes when they already are)."""
    row = groups.get(ctx.session, group_id)
    user = get_or_404(ctx.session, UserRow, user_id, what="User")
    groups.add_member(ctx.session, ctx.principal, group=row, user=user)
    return info(ctx.session, row)


@router.delete("/v1/groups/{group_id}/members/{user_id}", response_model=GroupInfo)
def remove_member(group_id: str, user_id: str, ctx: Allowed("users:write")) -> GroupInfo:
    """Take a user out of a group (nothing changes when they are not in it)."""
    row = groups.get(ctx.session, group_id)
    user = get_or_404(ctx.session, UserRow, user_id, what="User")
    groups.remove_member(ctx.session, ctx.principal, group=row, user=user)
    return info(ctx.session, row)
