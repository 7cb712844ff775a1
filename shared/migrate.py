"""Apply the SQL files in shared/migrations in name order, each once, recorded in a table.

Run as `python -m shared.migrate`; rerunning applies only files not yet recorded.
"""

import asyncio
from importlib import resources

import asyncpg

from shared.logs import configure_logging, get_logger
from shared.settings import get_settings

log = get_logger(__name__)

# Serialises concurrent migrators, such as several containers starting at once.
MIGRATION_LOCK_ID = 7_305_118_002

CREATE_TABLE_SQL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


def migration_files() -> list[tuple[str, str]]:
    """Return (name, SQL text) for every migration file, sorted by name."""
    folder = resources.files("shared") / "migrations"
    files = [entry for entry in folder.iterdir() if entry.name.endswith(".sql")]
    return [(entry.name, entry.read_text(encoding="utf-8")) for entry in sorted(files, key=lambda e: e.name)]


async def apply_migrations(conn: asyncpg.Connection) -> list[str]:
    """Apply the pending migrations, each in its own transaction; return their names."""
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
    try:
        await conn.execute(CREATE_TABLE_SQL)
        applied = {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}

        newly_applied = []
        for name, sql in migration_files():
            if name in applied:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", name)
            log.info("migration_applied", migration=name)
            newly_applied.append(name)
        return newly_applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)


async def main() -> None:
    settings = get_settings()
    configure_logging(settings)
    conn = await asyncpg.connect(settings.database_url)
    try:
        applied = await apply_migrations(conn)
    finally:
        await conn.close()
    log.info("migrations_done", applied=len(applied))


if __name__ == "__main__":
    asyncio.run(main())
