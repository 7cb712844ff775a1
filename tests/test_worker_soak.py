"""50 clients submitting and polling at once for 30 s, with two worker processes: no response is
a 5xx, and every accepted job finishes with every lead accounted for."""

import asyncio
import random
import time
from dataclasses import dataclass, field

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from shared import keys
from shared.settings import Settings
from tests.conftest import auth
from tests.job_checks import ADMIN_ID, SUBMIT_URL
from tests.worker_processes import (
    WorkerPool,
    isolated,
    pending_entries,
    private_redis_server,  # noqa: F401 - fixture
    private_redis_url,  # noqa: F401 - fixture
    stream_length,
    worker_pool,  # noqa: F401 - fixture
)

CLIENTS = 50
SUBMIT_FOR_S = 30.0
FINISH_WITHIN_S = 90.0
POLL_INTERVAL_S = 0.2
FINAL_STATUSES = {"completed", "cancelled", "failed"}


@dataclass
class Tally:
    statuses: list[int] = field(default_factory=list)
    # job id -> (total leads, leads expected to fail)
    submitted: dict[str, tuple[int, int]] = field(default_factory=dict)
    finished: dict[str, dict[str, object]] = field(default_factory=dict)


def owner(lead_id: int) -> int | None:
    """Return the client of a seeded lead (see SEED_LEADS_SQL), or None for a missing id."""
    if lead_id % 1000 == 999:
        return None
    if lead_id % 50 == 5:
        return 2
    return 1 if lead_id <= 10000 else 1 + lead_id % 50


def callers() -> list[tuple[int, list[str], list[int]]]:
    """Return 49 clients, each with the leads they own, and one admin."""
    owned: dict[int, list[int]] = {}
    for lead_id in range(1, 20001):
        client_id = owner(lead_id)
        if client_id is not None:
            owned.setdefault(client_id, []).append(lead_id)
    clients = [(client_id, ["cliente"], lead_ids) for client_id, lead_ids in sorted(owned.items())][
        : CLIENTS - 1
    ]
    return [*clients, (ADMIN_ID, ["admin"], list(range(1, 20001)))]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return isolated(settings, chunk_size=100)


async def run_client(
    client: TestClient, user_id: int, roles: list[str], own: list[int], tally: Tally, seed: int
) -> None:
    rng = random.Random(seed)
    headers = auth(user_id, roles)
    submit_until = time.monotonic() + SUBMIT_FOR_S
    while time.monotonic() < submit_until:
        lead_ids = rng.sample(own, rng.randint(20, min(200, len(own))))
        foreign = [] if roles == ["admin"] else [rng.choice([5, 1, 10001, 19999])]
        foreign = [lead_id for lead_id in foreign if owner(lead_id) != user_id]
        body = {
            "lead_ids": lead_ids + foreign,
            "estado": rng.choice(["aprobado", "confirmado", "en tránsito"]),
        }

        response = await client.post(SUBMIT_URL, json=body, headers=headers)
        tally.statuses.append(response.status)
        if response.status != 202:
            continue
        accepted = await response.json()
        expected_failures = sum(
            1 for lead_id in body["lead_ids"] if roles != ["admin"] and owner(lead_id) != user_id
        )
        expected_failures += sum(
            1 for lead_id in body["lead_ids"] if roles == ["admin"] and owner(lead_id) is None
        )
        tally.submitted[accepted["job_id"]] = (len(body["lead_ids"]), expected_failures)
        await poll_job(client, accepted["check_status_url"], headers, tally)


async def poll_job(client: TestClient, url: str, headers: dict[str, str], tally: Tally) -> None:
    give_up = time.monotonic() + FINISH_WITHIN_S
    while time.monotonic() < give_up:
        response = await client.get(url, headers=headers)
        tally.statuses.append(response.status)
        if response.status == 200:
            job = await response.json()
            if job["status"] in FINAL_STATUSES:
                tally.finished[job["job_id"]] = job
                return
        await asyncio.sleep(POLL_INTERVAL_S)


async def test_fifty_clients(
    client: TestClient,
    redis: Redis,
    db: asyncpg.Pool,
    leads: int,
    settings: Settings,
    workers: WorkerPool,
) -> None:
    workers.start(settings, "first")
    workers.start(settings, "second")
    tally = Tally()

    await asyncio.gather(
        *(
            run_client(client, user_id, roles, own, tally, seed)
            for seed, (user_id, roles, own) in enumerate(callers())
        )
    )

    history = await db.fetch(
        "SELECT job_id, count(*) AS rows FROM crm_lead_status_history GROUP BY job_id"
    )
    rows_per_job = {row["job_id"]: row["rows"] for row in history}
    # The admin's jobs overlap the clients': a lead already changed by a newer request is
    # superseded, counted as successful, and gets no history row.
    superseded = {
        job_id: int(await redis.hget(keys.job(job_id), "superseded_leads"))
        for job_id in tally.finished
    }
    accounted = {
        job_id: (
            job["processed_leads"],
            job["failed_leads"],
            rows_per_job.get(job_id, 0) + superseded[job_id],
        )
        for job_id, job in tally.finished.items()
    }
    expected = {
        job_id: (total, failed, total - failed)
        for job_id, (total, failed) in tally.submitted.items()
    }
    assert [status for status in tally.statuses if status >= 500] == []
    assert len(tally.submitted) > CLIENTS
    assert {job["status"] for job in tally.finished.values()} == {"completed"}
    assert accounted == expected
    assert await stream_length(redis, settings) == 0
    assert await pending_entries(redis, settings) == 0
