"""Pre-validation of small jobs: which leads will fail, found with one query before enqueueing."""

import asyncpg

from api_service.auth import Caller
from shared.lead_repository import FORBIDDEN, NOT_FOUND

# Returns only the leads that will fail, in request order: a clean job sends no rows back. It
# applies the chunk statement's permission rule.
PREVALIDATE_SQL = """
SELECT requested.id, lead.id IS NULL AS missing
FROM unnest($1::bigint[]) WITH ORDINALITY AS requested (id, position)
LEFT JOIN crm_leads AS lead ON lead.id = requested.id
WHERE lead.id IS NULL OR NOT ($2::boolean OR lead.cliente_id IS NOT DISTINCT FROM $3::bigint)
ORDER BY requested.position
"""


async def prevalidate(
    pool: asyncpg.Pool, caller: Caller, lead_ids: list[int]
) -> list[tuple[int, str]]:
    """The leads that will fail, in request order: missing ones, and for a cliente other clients' ones."""
    rows = await pool.fetch(PREVALIDATE_SQL, lead_ids, caller.is_admin, caller.user_id)
    return [(row["id"], NOT_FOUND if row["missing"] else FORBIDDEN) for row in rows]
