"""Apply Alembic migrations (``threadline migrate`` and every ``serve`` start)."""

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine.url import make_url

_MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_to_head(database_url: str) -> None:
    """Run from synchronous code (the CLI); env.py drives its own event loop."""
    database = make_url(database_url).database
    if database_url.startswith("sqlite") and database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(database_url), "head")


async def upgrade_to_head_async(database_url: str) -> None:
    """From inside a running event loop: env.py calls asyncio.run, so use a worker thread."""
    await asyncio.to_thread(upgrade_to_head, database_url)
