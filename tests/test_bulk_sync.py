"""The synchronous endpoint: 200 / 207 / 400, its body, its limit, and its order with async jobs."""

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from shared.settings import Settings
from tests.api_helpers import SUBMIT_URL, SYNC_URL, run_worker_until_idle
from tests.conftest import auth


async def post(
    client: TestClient,
    body: object,
    user_id: int = 1,
    roles: list[str] | None = None,
    **headers: str,
):
    response = await client.post(SYNC_URL, json=body, headers=auth(user_id, roles, **headers))
    return response, await response.json()


async def estados(db: asyncpg.Pool, lead_ids: list[int]) -> dict[int, str]:
    rows = await db.fetch(
        "SELECT id, estado_actual FROM crm_leads WHERE id = ANY($1::bigint[])", lead_ids
    )
    return {row["id"]: row["estado_actual"] for row in rows}


def by_lead(failed_leads: list[dict]) -> list[dict]:
    return sorted(failed_leads, key=lambda item: item["lead_id"])


async def test_all_updated(client: TestClient, db: asyncpg.Pool, leads: int) -> None:
    response, data = await post(
        client, {"lead_ids": [1, 2, 3], "estado": "aprobado", "observaciones": "Llamada"}
    )

    assert response.status == 200
    assert data == {
        "success": True,
        "message": "3 de 3 leads actualizados exitosamente",
        "updated": 3,
        "failed": 0,
        "total": 3,
        "estado_nuevo": "APROBADO",
        "failed_leads": [],
    }
    assert "error" not in data
    assert await estados(db, [1, 2, 3]) == {1: "APROBADO", 2: "APROBADO", 3: "APROBADO"}


async def test_history_rows(client: TestClient, db: asyncpg.Pool, leads: int) -> None:
    await post(client, {"lead_ids": [1, 2], "estado": "aprobado", "observaciones": "Llamada"})
    rows = await db.fetch(
        "SELECT lead_id, estado_anterior, estado_nuevo, actor_user_id, observaciones, job_id "
        "FROM crm_lead_status_history ORDER BY lead_id"
    )

    assert [dict(row) for row in rows] == [
        {
            "lead_id": lead_id,
            "estado_anterior": "EN_ESPERA",
            "estado_nuevo": "APROBADO",
            "actor_user_id": 1,
            "observaciones": "Actualización masiva: Llamada",
            "job_id": None,
        }
        for lead_id in (1, 2)
    ]
    assert await db.fetchval("SELECT count(*) FROM crm_notifications") == 2


async def test_some_failed(client: TestClient, db: asyncpg.Pool, leads: int) -> None:
    response, data = await post(client, {"lead_ids": [1, 5, 2, 999, 2], "estado": "cancelado"})

    assert response.status == 207
    assert data["success"] is True
    assert data["message"] == "2 de 4 leads actualizados exitosamente"
    assert data["updated"] == 2
    assert data["failed"] == 2
    assert data["total"] == 4
    assert data["duplicates_removed"] == 1
    assert by_lead(data["failed_leads"]) == [
        {"lead_id": 5, "success": False, "message": "No tienes permiso para este lead"},
        {"lead_id": 999, "success": False, "message": "Lead no encontrado"},
    ]
    assert await estados(db, [1, 2, 5]) == {1: "CANCELADO", 2: "CANCELADO", 5: "EN_ESPERA"}


async def test_some_failed_en(client: TestClient, leads: int) -> None:
    response, data = await post(
        client, {"lead_ids": [1, 5], "estado": "aprobado"}, **{"Accept-Language": "en"}
    )

    assert response.status == 207
    assert data["message"] == "1 of 2 leads updated successfully"
    assert data["failed_leads"] == [
        {"lead_id": 5, "success": False, "message": "You do not have permission for this lead"}
    ]


async def test_none_updated(client: TestClient, db: asyncpg.Pool, leads: int) -> None:
    response, data = await post(client, {"lead_ids": [5, 999], "estado": "aprobado"})

    assert response.status == 400
    assert data["success"] is False
    assert data["error"] == "no_leads_updated"
    assert data["message"] == "0 de 2 leads actualizados exitosamente"
    assert data["updated"] == 0
    assert data["failed"] == 2
    assert await db.fetchval("SELECT count(*) FROM crm_lead_status_history") == 0


async def test_admin_any_lead(client: TestClient, leads: int) -> None:
    response, data = await post(
        client, {"lead_ids": [5, 10005], "estado": "aprobado"}, 9000, ["admin"]
    )

    assert response.status == 200
    assert data["updated"] == 2


async def test_too_many_leads(client: TestClient, db: asyncpg.Pool, leads: int) -> None:
    response, data = await post(client, {"lead_ids": list(range(1, 102)), "estado": "aprobado"})

    assert response.status == 400
    assert data["error"] == "too_many_leads"
    assert data["message"] == "Límite máximo de 100 leads por request"
    assert data["received"] == 101
    assert await db.fetchval("SELECT count(*) FROM crm_lead_status_history") == 0


async def test_limit_counts_distinct(client: TestClient, leads: int) -> None:
    response, data = await post(
        client, {"lead_ids": list(range(1, 101)) + [1, 2], "estado": "aprobado"}, 9000, ["admin"]
    )

    assert response.status == 200
    assert data["total"] == 100
    assert data["duplicates_removed"] == 2


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"lead_ids": [1, True], "estado": "aprobado"}, "invalid_lead_ids"),
        ({"lead_ids": [1], "estado": "vendido"}, "invalid_estado"),
        ({"lead_ids": [1]}, "missing_fields"),
        (
            {"lead_ids": [1], "estado": "aprobado", "observaciones": "x" * 2001},
            "invalid_observaciones",
        ),
    ],
    ids=["lead_ids", "estado", "missing", "observaciones"],
)
async def test_same_validation(client: TestClient, body: dict, error: str) -> None:
    response, data = await post(client, body)

    assert response.status == 400
    assert data["error"] == error


async def test_sync_after_job_wins(
    client: TestClient, settings: Settings, db: asyncpg.Pool, leads: int
) -> None:
    job = await client.post(
        SUBMIT_URL, json={"lead_ids": list(range(1, 11)), "estado": "confirmado"}, headers=auth(1)
    )
    job_url = (await job.json())["check_status_url"]
    response, _ = await post(client, {"lead_ids": [2, 3], "estado": "cancelado"})
    await run_worker_until_idle(settings)
    progress = await (await client.get(job_url, headers=auth(1))).json()
    final = await estados(db, [1, 2, 3, 4])

    assert response.status == 200
    assert final == {1: "CONFIRMADO", 2: "CANCELADO", 3: "CANCELADO", 4: "CONFIRMADO"}
    assert progress["status"] == "completed"
    assert progress["successful_leads"] == 9
    assert progress["failed_leads"] == 1
    assert progress["superseded_leads"] == 2


async def test_superseded_no_history(
    client: TestClient, settings: Settings, db: asyncpg.Pool, leads: int
) -> None:
    await client.post(
        SUBMIT_URL, json={"lead_ids": [1, 2], "estado": "confirmado"}, headers=auth(1)
    )
    await post(client, {"lead_ids": [2], "estado": "cancelado"})
    await run_worker_until_idle(settings)
    rows = await db.fetch("SELECT lead_id, estado_nuevo FROM crm_lead_status_history ORDER BY id")

    assert [(row["lead_id"], row["estado_nuevo"]) for row in rows] == [
        (2, "CANCELADO"),
        (1, "CONFIRMADO"),
    ]


async def test_sync_before_job_loses(
    client: TestClient, settings: Settings, db: asyncpg.Pool, leads: int
) -> None:
    response, _ = await post(client, {"lead_ids": [2, 3], "estado": "cancelado"})
    await client.post(
        SUBMIT_URL, json={"lead_ids": [1, 2, 3], "estado": "en bodega"}, headers=auth(1)
    )
    await run_worker_until_idle(settings)

    assert response.status == 200
    assert await estados(db, [1, 2, 3]) == {1: "EN_BODEGA", 2: "EN_BODEGA", 3: "EN_BODEGA"}


async def test_later_sync_wins(client: TestClient, db: asyncpg.Pool, leads: int) -> None:
    await post(client, {"lead_ids": [1, 2], "estado": "aprobado"})
    await post(client, {"lead_ids": [2], "estado": "contactado"})

    assert await estados(db, [1, 2]) == {1: "APROBADO", 2: "CONTACTADO"}
