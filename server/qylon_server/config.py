"""Server configuration (pydantic-settings), from ``QYLON_*`` environment variables.

Outside development ``check()`` refuses placeholder and weak secrets. The database
role is checked elsewhere, when a connection exists: ``qylon server start`` refuses,
outside development, a role that is a superuser or bypasses row-level security
(``cli._check_serving``); a bare ``uvicorn qylon_server.app:create_app`` does not check it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from qylon_cli import paths
from qylon_cli.errors import InvalidInput

PLACEHOLDERS = {"", "changethis", "change-me", "changeme", "secret", "placeholder", "xxx", "dev"}


def default_database_url() -> str:
    return f"sqlite:///{paths.home() / 'server.db'}"


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QYLON_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    database_url: str = Field(default_factory=default_database_url)
    # Used by `qylon server migrate` when the app's role may not own tables (PostgreSQL).
    database_admin_url: str | None = None
    # Pepper for API-key hashes. Unset: a random one is kept in QYLON_HOME/server-secret.
    secret_key: str | None = None
    redis_url: str | None = None
    rate_limit: str = "600/minute"  # per API key
    user_rate_limit: str = "1200/minute"  # per user, all their keys together
    max_keys_per_user: int = 20  # active keys (not revoked, expired or rotated)
    # Addresses (or networks, comma-separated) of reverse proxies whose X-Forwarded-For
    # and X-Forwarded-Proto are believed; none by default.
    trusted_proxies: str = ""
    # Requests with a missing or invalid key, per client IP (slows down key guessing).
    auth_failure_limit: str = "120/minute"
    # Bodies: up to max_body_bytes on the upload routes (a meeting, a bulk batch, a SCIM
    # group), up to small_body_bytes elsewhere; each must arrive within body_timeout_s.
    max_body_bytes: int = 10 * 1024 * 1024
    small_body_bytes: int = 256 * 1024
    body_timeout_s: float = 60.0
    # Requests served at once by one process; more get 503 with Retry-After.
    max_concurrent_requests: int = 100
    pool_size: int = 10
    # Threads of one process that run the busiest routes (the clients list, a meeting's
    # upload); None: 1 on SQLite, 2 on PostgreSQL. More only contend for the GIL
    # (docs/benchmarks.md).
    request_threads: int | None = Field(None, ge=1, le=256)
    # Region (ISO code, e.g. US, GB) of phone numbers an identity provider sends without
    # their country code; without it such numbers are refused (SCIM stores E.164 only).
    phone_region: str | None = None
    # A SCIM filter that SQL cannot narrow is checked in memory against at most this many
    # users or groups; beyond it the answer is 400 tooMany.
    scim_filter_max_scan: int = 1000
    # Durable workflows: the executor id under which this process runs them (DBOS). None:
    # this process only enqueues runs. Never give two live processes the same id (one
    # `qylon server start --workers 1`, or one worker per id).
    workflow_executor: str | None = None
    # The mail relay of the `email.send` action: smtp://host:port (plain), smtp+starttls://
    # (STARTTLS required) or smtps:// (TLS), with user:password@ when it asks for a login.
    # Unset: email steps fail with `not_configured`.
    smtp_url: str | None = None
    # The From address of workflow mail (its domain also names each Message-ID).
    mail_from: str = "qylon@localhost"
    # Runs in progress at once on the queue, all processes together (None: no limit), and
    # in one process. A run in a short wait (a retry's backoff, a step's wait of up to
    # workflow_park_after seconds) is in progress; a longer wait parks the run, which then
    # takes no place until the wait ends. Kept in the database: every process that runs
    # workflows writes them when it starts, so give all the same values.
    workflow_concurrency: int | None = Field(default=None, ge=1)
    workflow_worker_concurrency: int = Field(default=100, ge=1)  # engine.WORKER_CONCURRENCY
    # A sleep, sleep_until or wait_for step, or a retry's backoff, longer than this
    # (seconds) parks its run.
    workflow_park_after: float = Field(default=60.0, ge=0)
    # Where `http.request` steps may send requests: hosts (`api.example.com`,
    # `*.example.com`, `host:8443`) or URL prefixes (`https://hooks.example.com/crm/`),
    # comma-separated. Empty: every http.request step fails with not_allowed. Checked by
    # `qylon server start` and `worker` (a bad entry: exit 3), and by each step.
    workflow_http_allow: str = ""
    # Webhook endpoints (docs/webhooks.md) must be https:// to a public address; hosts or
    # URL prefixes listed here (as workflow_http_allow) may also be http:// and private
    # (loopback receivers in tests, an internal relay). Empty: public https only.
    webhook_allow: str = ""
    # Transcription jobs (docs/workers.md): a recording's upload limit; how long a
    # worker's lease lasts without a renewal (then another worker may take the job);
    # jobs in progress at once per organisation, all workers together (None: no limit),
    # and per worker (a worker asking for more gets this many); how many times a job
    # is taken before it is failed (a recording that kills its workers). An upload is
    # held in memory while it arrives, as every body is (middleware.py).
    max_audio_bytes: int = Field(default=200 * 1024 * 1024, ge=1024)
    transcription_lease_s: float = Field(default=120.0, gt=0)
    transcription_concurrency: int | None = Field(default=None, ge=1)
    transcription_worker_concurrency: int = Field(default=8, ge=1)
    transcription_max_attempts: int = Field(default=3, ge=1)
    # The address people outside the CLI reach this server at (https://qylon.example.com):
    # the signed links in onboarding emails start with it.
    public_url: str = "http://127.0.0.1:8000"

    def check(self) -> None:
        """Refuse unsafe configuration outside development."""
        if (
            self.environment != "development"
            and self.secret_key is not None
            and self.secret_key.strip().lower() in PLACEHOLDERS
        ):
            raise InvalidInput(
                "QYLON_SECRET_KEY is a placeholder; refusing to run in production.",
                hint="Set QYLON_SECRET_KEY to a long random value, e.g. `python -c "
                "'import secrets; print(secrets.token_urlsafe(48))'`.",
            )
        if self.secret_key is not None and self.environment != "development":
            weak = len(self.secret_key.encode()) < 32 or len(set(self.secret_key)) < 8
            if weak:
                raise InvalidInput(
                    "QYLON_SECRET_KEY is too weak for production: it needs 32 bytes or more of real randomness "
                    "(at least 8 different characters, not one repeated).",
                    hint="Generate one: python -c 'import secrets; print(secrets.token_urlsafe(48))'",
                )

    def make_database_private(self) -> None:
        """A SQLite database and its WAL and shared-memory files: owner only."""
        if not self.database_url.startswith("sqlite:///") or os.name != "posix":
            return
        db = Path(self.database_url[len("sqlite:///") :]).expanduser()
        for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            if path.exists() and path.stat().st_mode & 0o077:
                path.chmod(0o600)

    def link_key(self) -> bytes:
        """The key of signed links (``links.py``): derived from the pepper, so a link and
        an API-key hash never share a key."""
        return hmac.new(self.pepper(), b"qylon-links-v1", hashlib.sha256).digest()

    def pepper(self) -> bytes:
        if self.secret_key:
            return self.secret_key.encode()
        path = Path(paths.ensure_home()) / "server-secret"
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
            try:
                os.link(tmp, path)  # first writer wins when several workers start at once
            except FileExistsError:
                pass
            tmp.unlink(missing_ok=True)
        return path.read_text().strip().encode()


@lru_cache
def get_settings() -> ServerSettings:
    return ServerSettings()
