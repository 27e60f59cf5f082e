"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect, text

from app.migrate import alembic_config, upgrade


def test_upgrade_matches_models(db_url):
    # db_url comes with tables made by create_all: start from an empty database instead
    engine = create_engine(db_url)
    with engine.begin() as conn:
        for table in reversed(inspect(conn).get_table_names()):
            conn.execute(text(f'DROP TABLE IF EXISTS "{table}" CASCADE' if conn.dialect.name == "postgresql"
                              else f'DROP TABLE IF EXISTS "{table}"'))
    engine.dispose()
    upgrade(db_url)
    command.check(alembic_config(db_url))  # raises when models and migrations differ
    upgrade(db_url)  # a second run is a no-op
