"""What the event store's listeners read, versioned (issue 23): ``listener_config`` holds
one token per organisation that triggers replace with a new random value whenever that
configuration changes: webhook subscriptions, experiments' goals, the organisation's
per-event email defaults (``mail_settings.notify_events``) and people's own choices
(``notification_prefs.events``). A process caches what it read under the token it read
(events/listener_config.py), so a change made by any process, through the ORM or plain
SQL, applies at the next transaction everywhere. A random token, not a counter: a value
read inside a transaction that rolls back is never seen again.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from qylon_server.migrations.rls import tenant_isolation

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

# table: (the columns the listeners read, a condition on a new or deleted row: %s is NEW/OLD)
WATCHED = {
    "webhook_subscriptions": (("enabled", "event_types", "created_by", "created_key"), None),
    "experiments": (("goal",), "%s.goal IS NOT NULL"),
    "mail_settings": (("notify_events",), None),
    "notification_prefs": (("events",), "%s.events IS NOT NULL"),
}


def _changed(columns, postgres: bool) -> str:
    if postgres:  # json has no equality: compare the text
        return " OR ".join(f"OLD.{c}::text IS DISTINCT FROM NEW.{c}::text" for c in columns)
    return " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)


def _postgres() -> None:
    op.execute(
        """
        CREATE FUNCTION qylon_listener_config_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE org varchar;
        BEGIN
          IF TG_OP = 'DELETE' THEN org := OLD.org_id; ELSE org := NEW.org_id; END IF;
          INSERT INTO listener_config (org_id, token) VALUES (org, gen_random_uuid()::text)
            ON CONFLICT (org_id) DO UPDATE SET token = excluded.token;
          RETURN NULL;
        END $$
        """
    )
    for table, (columns, kept) in WATCHED.items():
        for verb, when in (
            ("INSERT", kept and kept % "NEW"),
            ("UPDATE", _changed(columns, True)),
            ("DELETE", kept and kept % "OLD"),
        ):
            condition = f" WHEN ({when})" if when else ""
            op.execute(
                f"CREATE TRIGGER {table}_listener_config_{verb.lower()} AFTER {verb} ON {table} "
                f"FOR EACH ROW{condition} EXECUTE FUNCTION qylon_listener_config_changed()"
            )


def _sqlite() -> None:
    for table, (columns, kept) in WATCHED.items():
        for verb, row, when in (
            ("INSERT", "NEW", kept and kept % "NEW"),
            ("UPDATE", "NEW", _changed(columns, False)),
            ("DELETE", "OLD", kept and kept % "OLD"),
        ):
            condition = f" WHEN {when}" if when else ""
            op.execute(
                f"CREATE TRIGGER {table}_listener_config_{verb.lower()} AFTER {verb} ON {table} "
                f"FOR EACH ROW{condition} BEGIN "
                f"INSERT INTO listener_config (org_id, token) "
                f"VALUES ({row}.org_id, lower(hex(randomblob(16)))) "
                "ON CONFLICT (org_id) DO UPDATE SET token = excluded.token; END"
            )


def upgrade() -> None:
    op.create_table(
        "listener_config",
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("token", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_listener_config_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_listener_config")),
    )
    tenant_isolation("listener_config")
    if op.get_bind().dialect.name == "postgresql":
        _postgres()
    else:
        _sqlite()


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in WATCHED:
        for verb in ("insert", "update", "delete"):
            name = f"{table}_listener_config_{verb}"
            op.execute(f"DROP TRIGGER {name} ON {table}" if postgres else f"DROP TRIGGER {name}")
    if postgres:
        op.execute("DROP FUNCTION qylon_listener_config_changed()")
    op.drop_table("listener_config")
