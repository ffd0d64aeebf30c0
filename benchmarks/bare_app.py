"""The yardstick for `benchmarks/api.py`: the same two requests written the way the
FastAPI and SQLAlchemy documentation writes them, with nothing of Qylon's.

- ``GET /v1/clients?limit=50``: a bearer token looked up by its SHA-256 in a tokens
  table (a ``Depends`` with a ``Session`` per request), then a page of 50 clients by name
  and their count, returned through a ``response_model``.
- ``PUT /v1/meetings/{id}``: the body validated by a pydantic model, the meeting stored
  as one row with its segments and action items as JSON, an audit row beside it.

It has none of what Qylon does on each request: no tenant isolation (row-level
security on PostgreSQL), no rate limits, no key expiry, scopes or last-use, no request
guards, no event store, no search index, no idempotency. ``api.py --apps bare`` seeds
and drives it as it does Qylon's server::

    BARE_DATABASE_URL=sqlite:///bare.db uvicorn --app-dir benchmarks bare_app:app --workers 2
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException
from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, DateTime, ForeignKey, String, create_engine, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker


class Base(DeclarativeBase):
    pass


class Token(Base):
    __tablename__ = "bare_tokens"
    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user: Mapped[str] = mapped_column(String(200))


class ClientRow(Base):
    __tablename__ = "bare_clients"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    domain: Mapped[str | None] = mapped_column(String(255))
    tags: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MeetingRow(Base):
    __tablename__ = "bare_meetings"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    body: Mapped[dict] = mapped_column(JSON)


class AuditRow(Base):
    __tablename__ = "bare_audit"
    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(50))
    target: Mapped[str] = mapped_column(ForeignKey("bare_meetings.id"))


class Client(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    domain: str | None = None
    tags: list[str] = []
    created_at: datetime


class ClientPage(BaseModel):
    items: list[Client]
    total: int
    limit: int
    offset: int


class Segment(BaseModel):
    start: float
    end: float
    speaker: str | None = None
    text: str


class Meeting(BaseModel):
    id: str
    title: str
    client: str | None = None
    created_at: datetime
    duration_s: float
    speakers: list[dict] = []
    segments: list[Segment] = []
    action_items: list[dict] = []


def engine_for(url: str):
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        return create_engine(url, connect_args={"check_same_thread": False})
    return create_engine(url, pool_size=10, max_overflow=10)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def seed(url: str, token: str, clients: int) -> None:
    """The tables, one token and ``clients`` clients."""
    engine = engine_for(url)
    Base.metadata.create_all(engine)
    with Session(engine) as s, s.begin():
        s.add(Token(hash=token_hash(token), user="bench@example.com"))
        s.add_all(
            ClientRow(name=f"Client {i:03d}", tags=["bench"], created_at=datetime.now(UTC))
            for i in range(clients)
        )
    engine.dispose()


engine = engine_for(os.environ.get("BARE_DATABASE_URL", "sqlite:///bare.db"))
sessions = sessionmaker(engine)
app = FastAPI(title="FastAPI + SQLAlchemy, bare")


def db():
    with sessions() as session, session.begin():
        yield session


DB = Annotated[Session, Depends(db)]


def user(db: DB, authorization: Annotated[str, Header()] = "") -> str:
    scheme, _, token = authorization.partition(" ")
    found = db.scalar(select(Token.user).where(Token.hash == token_hash(token)))
    if scheme.lower() != "bearer" or found is None:
        raise HTTPException(401, "invalid token")
    return found


User = Annotated[str, Depends(user)]


@app.get("/v1/clients", response_model=ClientPage)
def list_clients(db: DB, _user: User, limit: int = 50, offset: int = 0):
    total = db.scalar(select(func.count()).select_from(ClientRow))
    rows = db.scalars(select(ClientRow).order_by(ClientRow.name).limit(limit).offset(offset))
    return {"items": rows.all(), "total": total, "limit": limit, "offset": offset}


@app.put("/v1/meetings/{meeting_id}", response_model=Meeting)
def put_meeting(meeting_id: str, meeting: Meeting, db: DB, actor: User):
    db.merge(MeetingRow(id=meeting_id, title=meeting.title, body=meeting.model_dump(mode="json")))
    db.flush()
    db.add(AuditRow(actor=actor, action="meeting.put", target=meeting_id))
    return meeting
