"""Uploads kept by version (workflow definitions, email sequences, compliance policies,
engagement rules): one text per version, and versions only grow."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import ApiError


def stored(session: Session, model, *, name: str, version: int, digest: str):
    """The row of ``name`` at ``version`` when it holds the same content (uploading it
    again changes nothing), else None for a new version. Answers 409 when the version
    exists with other content, or a newer version is stored."""
    same = session.scalar(select(model).where(model.name == name, model.version == version))
    if same is not None:
        if same.sha256 == digest:
            return same
        raise ApiError(
            409,
            f"Version {version} of {name} exists with other content.",
            code="conflict",
            hint="Raise `version:` in the file to upload changed content.",
        )
    newest = session.scalar(
        select(model).where(model.name == name).order_by(model.version.desc()).limit(1)
    )
    if newest is not None and newest.version > version:
        raise ApiError(
            409,
            f"{name} is at version {newest.version}; version {version} is older.",
            code="conflict",
            hint=f"Give the file version {newest.version + 1} or more.",
        )
    return None
