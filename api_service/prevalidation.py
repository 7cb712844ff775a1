"""Pre-validation of small jobs: which leads will fail, found with one query before enqueueing."""

import asyncpg

from api_service.auth import Caller
from shared.lead_repository import FORBIDDEN, NOT_FOUND

PREVALIDATE_SQL = "SELECT id, cliente_id FROM crm_leads WHERE id = ANY($1::bigint[])"


async def prevalidate(
    pool: asyncpg.Pool, caller: Caller, lead_ids: list[int]
) -> list[tuple[int, str]]:
    """The leads that will fail, in request order: missing ones, and for a cliente other clients' ones."""
    rows = await pool.fetch(PREVALIDATE_SQL, lead_ids)
    owners = {row["id"]: row["cliente_id"] for row in rows}

    warnings = []
    for lead_id in lead_ids:
        if lead_id not in owners:
            warnings.append((lead_id, NOT_FOUND))
        elif not caller.is_admin and owners[lead_id] != caller.user_id:
            warnings.append((lead_id, FORBIDDEN))
    return warnings
