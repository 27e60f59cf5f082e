"""Alembic environment: the URL comes from the caller (app.migrate) or ONESTOP_DATABASE_URL."""

from __future__ import annotations

from alembic import context

import app.models  # noqa: F401  (registers every table)
from app.config import Config
from app.db import Base, make_engine

config = context.config
url = config.attributes.get("database_url") or Config.from_env().database_url
target_metadata = Base.metadata


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Trigram indexes (`*_trgm`, app/reports/models.py) exist on PostgreSQL only."""
    if type_ == "index" and name and name.endswith("_trgm"):
        return context.get_context().dialect.name == "postgresql"
    return True


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True, render_as_batch=True,
                      include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite", include_object=include_object)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
