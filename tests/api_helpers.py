"""Helpers for API tests: an app on custom settings, job submission, and a worker run to idle."""

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from api_service.app import create_app
from shared.settings import Settings
from tests.conftest import auth
from worker_service.worker import Worker

SUBMIT_URL = "/api/crm/leads/bulk-status-async"
SYNC_URL = "/api/crm/leads/bulk-status"


@asynccontextmanager
async def api_client(settings: Settings) -> AsyncIterator[TestClient]:
    """A test client on an app built from `settings`; request the `redis` and `db` fixtures too."""
    async with TestClient(TestServer(create_app(settings))) as client:
        yield client


def with_settings(settings: Settings, **changes: Any) -> Settings:
    """A copy of `settings` with `changes`, validated like settings read from the environment."""
    return Settings(**{**settings.model_dump(), **changes})


async def submit(
    client: TestClient,
    lead_ids: list[int],
    user_id: int = 1,
    roles: list[str] | None = None,
    estado: str = "aprobado",
    prefix: str = "",
) -> str:
    """Submit an async job and return its id; fails the test unless it is accepted."""
    response = await client.post(
        f"{prefix}{SUBMIT_URL}",
        json={"lead_ids": lead_ids, "estado": estado},
        headers=auth(user_id, roles),
    )
    body = await response.json()
    assert response.status == 202, body
    return body["job_id"]


async def run_worker_until_idle(settings: Settings) -> Worker:
    worker = Worker(settings, burst=True)
    await worker.start()
    try:
        await worker.run()
    finally:
        await worker.close()
    return worker


def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
