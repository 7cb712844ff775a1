"""The API's copy of the state catalog, loaded from PostgreSQL and refreshed in the background."""

import asyncio

import asyncpg

from shared.logs import get_logger
from shared.states import DEFAULT_CATALOG, StateCatalog, load_catalog

log = get_logger(__name__)


class CatalogCache:
    """Holds the current catalog; `refresh_forever` reloads it so operator edits apply without a restart."""

    def __init__(self, refresh_s: float = 60.0) -> None:
        self.current: StateCatalog = DEFAULT_CATALOG
        self.refresh_s = refresh_s

    async def refresh(self, pool: asyncpg.Pool) -> None:
        catalog = await load_catalog(pool)
        if catalog.states:
            self.current = catalog

    async def refresh_forever(self, pool: asyncpg.Pool) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await self.refresh(pool)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("catalog_refresh_failed", error=repr(error))
