"""A router the server mounts after its own."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1/sample", tags=["sample"])


@router.get("/ping")
def ping() -> dict:
    return {"pong": True}
