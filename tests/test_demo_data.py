"""Demo data: row count, the fixed layout of the first ids, value shapes, refusal and --force."""

import os
import re
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from shared.migrate import apply_migrations
from tools.demo_data import (
    ESTADO_WEIGHTS,
    DemoDataError,
    LeadGenerator,
    build_pools,
    load_demo_data,
)
from tools.embedded_postgres import quote_identifier, with_database

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
COUNT = 5000
SEED = 42


@pytest.fixture(scope="module")
async def demo_db() -> AsyncIterator[asyncpg.Connection]:
    """A migrated database of our own on DATABASE_URL's server, holding COUNT leads; dropped after."""
    server_url = os.environ.get("DATABASE_URL", DEFAULT_SERVER_URL)
    name = f"crm_test_tools_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f"CREATE DATABASE {quote_identifier(name)}")
    try:
        conn = await asyncpg.connect(with_database(server_url, name))
        try:
            await apply_migrations(conn)
            await load_demo_data(conn, COUNT, SEED)
            yield conn
        finally:
            await conn.close()
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {quote_identifier(name)} WITH (FORCE)")
        await admin.close()


async def test_row_count_exact(demo_db: asyncpg.Connection) -> None:
    assert await demo_db.fetchval("SELECT count(*) FROM crm_leads") == COUNT


async def test_deleted_ids_absent(demo_db: asyncpg.Connection) -> None:
    assert await demo_db.fetchval("SELECT count(*) FROM crm_leads WHERE id % 1000 = 999") == 0
    # 5000 rows need ids 1..5005, since 999, 1999, 2999, 3999 and 4999 are skipped.
    assert await demo_db.fetchval("SELECT min(id) FROM crm_leads") == 1
    assert await demo_db.fetchval("SELECT max(id) FROM crm_leads") == 5005


async def test_fixed_client_layout(demo_db: asyncpg.Connection) -> None:
    wrong = await demo_db.fetchval(
        "SELECT count(*) FROM crm_leads WHERE cliente_id <> CASE WHEN id % 50 = 5 THEN 2 ELSE 1 END"
    )
    assert wrong == 0
    assert await demo_db.fetchval("SELECT cliente_id FROM crm_leads WHERE id = 5") == 2
    assert await demo_db.fetchval("SELECT cliente_id FROM crm_leads WHERE id = 1") == 1


async def test_providers_spread(demo_db: asyncpg.Connection) -> None:
    providers = {
        row["proveedor_id"]
        for row in await demo_db.fetch("SELECT DISTINCT proveedor_id FROM crm_leads")
    }
    assert providers == set(range(101, 121))


async def test_provider_lead_ids(demo_db: asyncpg.Connection) -> None:
    rows = await demo_db.fetch("SELECT proveedor_id, proveedor_lead_id FROM crm_leads")
    for row in rows:
        assert re.fullmatch(rf"PRV{row['proveedor_id']}-\d+", row["proveedor_lead_id"])
    assert len({row["proveedor_lead_id"] for row in rows}) == len(rows)


async def test_estados_canonical(demo_db: asyncpg.Connection) -> None:
    counts = {row["estado_actual"]: row["n"] for row in await demo_db.fetch(
        "SELECT estado_actual, count(*) AS n FROM crm_leads GROUP BY estado_actual"
    )}  # fmt: skip
    assert set(counts) == set(ESTADO_WEIGHTS)
    assert counts["EN_ESPERA"] + counts["CONTACTADO"] > COUNT / 2


async def test_value_shapes(demo_db: asyncpg.Connection) -> None:
    rows = await demo_db.fetch(
        "SELECT nombre, telefono, producto, precio, created_at, updated_at FROM crm_leads"
    )
    now = datetime.now(UTC)

    for row in rows:
        assert len(row["nombre"].split()) >= 3
        assert re.fullmatch(r"\+52 (\d{2} \d{4}|\d{3} \d{3}) \d{4}", row["telefono"])
        assert row["producto"]
        assert 0 < row["precio"] < 100_000
        assert now - timedelta(days=366) < row["created_at"] <= row["updated_at"] <= now


async def test_phones_distinct(demo_db: asyncpg.Connection) -> None:
    assert await demo_db.fetchval("SELECT count(DISTINCT telefono) FROM crm_leads") == COUNT


async def test_identity_sequence_reset(demo_db: asyncpg.Connection) -> None:
    async with demo_db.transaction():
        new_id = await demo_db.fetchval(
            "INSERT INTO crm_leads (cliente_id) VALUES (1) RETURNING id"
        )
        assert new_id > 5005
        await demo_db.execute("DELETE FROM crm_leads WHERE id = $1", new_id)


async def test_nonempty_table_rejected(demo_db: asyncpg.Connection) -> None:
    with pytest.raises(DemoDataError, match="--force"):
        await load_demo_data(demo_db, 10, SEED)
    assert await demo_db.fetchval("SELECT count(*) FROM crm_leads") == COUNT


async def test_force_reloads_same_rows(demo_db: asyncpg.Connection) -> None:
    before = await demo_db.fetch(
        "SELECT id, nombre, producto FROM crm_leads WHERE id <= 20 ORDER BY id"
    )
    await demo_db.execute(
        "INSERT INTO crm_lead_status_history (lead_id, estado_nuevo) VALUES (1, 'APROBADO')"
    )

    assert await load_demo_data(demo_db, COUNT, SEED, force=True) == COUNT

    after = await demo_db.fetch(
        "SELECT id, nombre, producto FROM crm_leads WHERE id <= 20 ORDER BY id"
    )
    assert after == before
    assert await demo_db.fetchval("SELECT count(*) FROM crm_lead_status_history") == 0


def test_generator_covers_all_clients() -> None:
    generator = LeadGenerator(build_pools(SEED), SEED, 20_000, datetime.now(UTC))
    rows = generator.batch(20_000)

    later_clients = {row[2] for row in rows if row[0] > 10_000}
    assert later_clients == set(range(1, 51))
    assert len(rows) == 20_000
