"""Qylon's team server: FastAPI, SQLAlchemy 2.0 + Alembic, tenancy, API keys."""

__version__ = "0.1.0"
