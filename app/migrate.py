"""Run the Alembic migrations in migrations/ against a database URL."""

from __future__ import annotations

from alembic import command
from alembic.config import Config as AlembicConfig

from app.config import PROJECT_ROOT


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.attributes["database_url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database to `revision` (the newest by default)."""
    command.upgrade(alembic_config(url), revision)
