"""State names: normalisation, the contract's aliases, and aliases an operator adds to the catalog."""

from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from api_service.appkeys import CATALOG, DB_POOL
from shared.states import DEFAULT_CATALOG, load_catalog, normalize_name
from tests.api_helpers import SUBMIT_URL
from tests.conftest import auth

CONTRACT_ALIASES = {
    "APROVADO": "APROBADO",
    "APPROVED": "APROBADO",
    "CANCELAR": "CANCELADO",
    "CANCELLED": "CANCELADO",
    "CANCELED": "CANCELADO",
    "CONFIRMAR": "CONFIRMADO",
    "CONFIRMED": "CONFIRMADO",
    "EN TRANSITO": "EN_TRANSITO",
    "TRANSITO": "EN_TRANSITO",
    "TRANSIT": "EN_TRANSITO",
    "EN BODEGA": "EN_BODEGA",
    "BODEGA": "EN_BODEGA",
    "WAREHOUSE": "EN_BODEGA",
    "EN ESPERA": "EN_ESPERA",
    "ESPERA": "EN_ESPERA",
    "PENDING": "EN_ESPERA",
    "WAITING": "EN_ESPERA",
    "CONTACTED": "CONTACTADO",
}
CANONICAL = [
    "EN_ESPERA",
    "CONTACTADO",
    "APROBADO",
    "CONFIRMADO",
    "EN_TRANSITO",
    "EN_BODEGA",
    "CANCELADO",
]


@pytest.fixture
async def catalog_rows(db: asyncpg.Pool) -> AsyncIterator[asyncpg.Pool]:
    """Yield the pool, then remove the catalog rows a test added: those tables are not truncated."""
    yield db
    await db.execute("DELETE FROM crm_estado_aliases WHERE alias IN ('EN_CAMINO', 'ENTREGADO_OK')")
    await db.execute("DELETE FROM crm_estados WHERE estado = 'ENTREGADO'")


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("aprobado", "APROBADO"),
        ("  En   Tránsito ", "EN_TRANSITO"),
        ("TRÁNSITO", "TRANSITO"),
        ("en_bodega", "EN_BODEGA"),
        ("en\tespera", "EN_ESPERA"),
        ("Contactado\n", "CONTACTADO"),
        ("cancelaDO", "CANCELADO"),
        ("ÉN BÓDEGA", "EN_BODEGA"),
    ],
)
def test_normalize_name(raw: str, name: str) -> None:
    assert normalize_name(raw) == name


@pytest.mark.parametrize(("alias", "estado"), CONTRACT_ALIASES.items())
def test_contract_alias(alias: str, estado: str) -> None:
    assert DEFAULT_CATALOG.resolve(alias.lower()) == estado


@pytest.mark.parametrize(
    "raw", ["TRÁNSITO", "en tránsito", " Tránsito ", "in transit", "IN_TRANSIT"]
)
async def test_transit_spellings(db: asyncpg.Pool, raw: str) -> None:
    catalog = await load_catalog(db)

    assert catalog.resolve(raw) == "EN_TRANSITO"


@pytest.mark.parametrize("raw", ["vendido", "", "EN", "APROBADOS", "EN__ESPERA_X"])
def test_unknown_state(raw: str) -> None:
    assert DEFAULT_CATALOG.resolve(raw) is None


async def test_database_catalog(db: asyncpg.Pool) -> None:
    catalog = await load_catalog(db)

    assert list(catalog.states) == CANONICAL
    assert {alias: catalog.resolve(alias) for alias in CONTRACT_ALIASES} == CONTRACT_ALIASES


async def test_operator_alias(client: TestClient, catalog_rows: asyncpg.Pool) -> None:
    body = {"lead_ids": [1], "estado": "en camino"}
    before = await client.post(SUBMIT_URL, json=body, headers=auth(1))
    await catalog_rows.execute(
        "INSERT INTO crm_estado_aliases (alias, estado) VALUES ('EN_CAMINO', 'EN_TRANSITO')"
    )
    await client.app[CATALOG].refresh(client.app[DB_POOL])
    after = await client.post(SUBMIT_URL, json=body, headers=auth(1))

    assert before.status == 400
    assert after.status == 202
    assert client.app[CATALOG].current.resolve("En Camino") == "EN_TRANSITO"


async def test_operator_state(client: TestClient, catalog_rows: asyncpg.Pool) -> None:
    await catalog_rows.execute(
        "INSERT INTO crm_estados (estado, sort_order) VALUES ('ENTREGADO', 80)"
    )
    await catalog_rows.execute(
        "INSERT INTO crm_estado_aliases (alias, estado) VALUES ('ENTREGADO_OK', 'ENTREGADO')"
    )
    await client.app[CATALOG].refresh(client.app[DB_POOL])
    rejected = await client.post(
        SUBMIT_URL, json={"lead_ids": [1], "estado": "vendido"}, headers=auth(1)
    )
    accepted = await client.post(
        SUBMIT_URL, json={"lead_ids": [1], "estado": "entregado ok"}, headers=auth(1)
    )

    assert (await rejected.json())["estados_validos"] == [*CANONICAL, "ENTREGADO"]
    assert accepted.status == 202


@pytest.mark.parametrize("estado", ["en ruta", "En_Ruta", "EN RUTA", "EN__RUTA", "_EN_RUTA", "TRÁNSITO"])
async def test_operator_state_not_canonical(catalog_rows: asyncpg.Pool, estado: str) -> None:
    """The catalog refuses a state row that callers' spellings could never normalise to."""
    with pytest.raises(asyncpg.CheckViolationError):
        await catalog_rows.execute(
            "INSERT INTO crm_estados (estado, sort_order) VALUES ($1, 90)", estado
        )
