"""Operations endpoints: liveness, readiness against unreachable servers, and Prometheus metrics."""

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from shared.settings import Settings
from tests.api_helpers import SUBMIT_URL, api_client, closed_port, with_settings
from tests.conftest import auth


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus exposition, keyed by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_healthz(client: TestClient) -> None:
    response = await client.get("/healthz")

    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_readyz(client: TestClient) -> None:
    response = await client.get("/readyz")

    assert response.status == 200
    assert await response.json() == {
        "status": "ready",
        "checks": {"redis": "ok", "postgresql": "ok"},
    }


@pytest.mark.parametrize(
    ("down", "unreachable"),
    [
        ({"redis"}, ["redis"]),
        ({"postgresql"}, ["postgresql"]),
        ({"redis", "postgresql"}, ["redis", "postgresql"]),
    ],
    ids=["redis", "postgresql", "both"],
)
async def test_readyz_unreachable(
    settings: Settings, redis: Redis, db: asyncpg.Pool, down: set[str], unreachable: list[str]
) -> None:
    changes: dict[str, str] = {}
    if "redis" in down:
        changes["redis_url"] = f"redis://127.0.0.1:{closed_port()}/9"
    if "postgresql" in down:
        changes["database_url"] = f"postgresql://postgres@127.0.0.1:{closed_port()}/postgres"

    async with api_client(with_settings(settings, **changes)) as client:
        response = await client.get("/readyz", headers={"Accept-Language": "en"})
        body = await response.json()

    assert response.status == 503
    assert body["error"] == "not_ready"
    assert body["unreachable"] == unreachable
    assert body["message"] == f"Service not ready: cannot reach {', '.join(unreachable)}"
    assert response.headers["Retry-After"].isdigit()


async def test_redis_down_is_503(settings: Settings, redis: Redis, db: asyncpg.Pool) -> None:
    broken = with_settings(settings, redis_url=f"redis://127.0.0.1:{closed_port()}/9")
    async with api_client(broken) as client:
        response = await client.get("/api/crm/jobs", headers=auth(1))
        body = await response.json()

    assert response.status == 503
    assert body["error"] == "service_unavailable"
    assert body["message"] == "Servicio no disponible temporalmente; reintenta en 5 segundos"
    assert body["retry_after"] == 5
    assert response.headers["Retry-After"] == "5"


async def test_metrics_by_route(client: TestClient, leads: int) -> None:
    for suffix in ("bulk_0123456789abcdef_1700000000", "bulk_fedcba9876543210_1700000000"):
        await client.get(f"/api/crm/jobs/{suffix}", headers=auth(1))
    await client.get("/no/such/path")
    await client.post(
        SUBMIT_URL, json={"lead_ids": [1, 2, 3, 3], "estado": "aprobado"}, headers=auth(1)
    )

    response = await client.get("/metrics")
    text = await response.text()
    values = samples(text)

    not_found = (
        "crm_api_requests_total",
        (("method", "GET"), ("route", "/api/crm/jobs/{job_id}"), ("status", "404")),
    )
    unmatched = (
        "crm_api_requests_total",
        (("method", "GET"), ("route", "unmatched"), ("status", "404")),
    )
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert values[not_found] == 2
    assert values[unmatched] == 1
    assert values[("crm_api_jobs_accepted_total", ())] == 1
    assert values[("crm_api_leads_accepted_total", ())] == 3
    assert "fedcba9876543210" not in text
    assert "/no/such/path" not in text


async def test_metrics_latency(client: TestClient) -> None:
    await client.get("/healthz")

    values = samples(await (await client.get("/metrics")).text())

    count = ("crm_api_request_duration_seconds_count", (("method", "GET"), ("route", "/healthz")))
    assert values[count] == 1


async def test_metrics_odd_method(client: TestClient) -> None:
    await client.request("PROPFIND", "/healthz")

    values = samples(await (await client.get("/metrics")).text())

    odd = (
        "crm_api_requests_total",
        (("method", "OTHER"), ("route", "unmatched"), ("status", "405")),
    )
    assert values[odd] == 1
