"""Property-based test: requests generated from /api/openapi.json against the app on 127.0.0.1.

Schemathesis turns each documented operation into a Hypothesis strategy, in both positive
(valid per the document) and negative (invalid) modes. Every response must avoid 5xx and match
the document: a documented status, content type, headers and a body valid against its schema.
Generation is derandomized, so a run is reproducible, and the number of requests is bounded.
"""

import asyncio
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
import requests
import schemathesis
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from redis.asyncio import Redis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api_service.app import create_app
from shared.settings import Settings
from tests.api_helpers import run_worker_until_idle, submit, with_settings
from tests.conftest import auth, make_token

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
MIN_REQUESTS = 2000
# Examples per operation and mode; operations without inputs stop after the few they can make.
EXAMPLES = {schemathesis.GenerationMode.POSITIVE: 220, schemathesis.GenerationMode.NEGATIVE: 130}
REQUEST_TIMEOUT_S = 30


@dataclass
class Credentials:
    """Cycles the credentials sent with generated requests: mostly a valid cliente token."""

    sent: int = 0
    tokens: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        cliente = auth(1)
        self.tokens = [cliente] * 7 + [
            auth(900, ["admin"]),
            {},
            {"Authorization": f"Bearer {make_token(1, ttl_s=-3600)}"},
        ]

    def next(self) -> dict[str, str]:
        self.sent += 1
        return self.tokens[self.sent % len(self.tokens)]


@dataclass
class Fuzzer:
    """Sends the cases of one schema to one base URL and validates each response."""

    base_url: str
    credentials: Credentials = field(default_factory=Credentials)
    session: requests.Session = field(default_factory=requests.Session)

    def send(self, case: schemathesis.Case) -> None:
        headers = self.credentials.next()
        response = case.call(
            base_url=self.base_url, session=self.session, headers=headers, timeout=REQUEST_TIMEOUT_S
        )
        case.validate_response(response, checks=CHECKS, headers=headers)

    def run(self, strategy: st.SearchStrategy[schemathesis.Case], examples: int) -> None:
        @hypothesis_settings(
            max_examples=examples,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def check(case: schemathesis.Case) -> None:
            self.send(case)

        check()


def strategies(
    schema: Any, job_ids: list[str]
) -> list[tuple[str, st.SearchStrategy[schemathesis.Case], int]]:
    """One strategy per operation and mode; job paths also draw from jobs that exist."""
    planned = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode, examples in EXAMPLES.items():
            if mode is schemathesis.GenerationMode.NEGATIVE and not _has_inputs(operation):
                continue
            strategy = operation.as_strategy(generation_mode=mode)
            if "{job_id}" in operation.path and mode is schemathesis.GenerationMode.POSITIVE:
                existing = [
                    operation.as_strategy(path_parameters={"job_id": job_id}) for job_id in job_ids
                ]
                strategy = st.one_of(strategy, *existing)
            planned.append(
                (f"{operation.method.upper()} {operation.path} {mode.value}", strategy, examples)
            )
    return planned


def _has_inputs(operation: Any) -> bool:
    """Whether an operation takes any parameter or body, the only things negative mode can break."""
    return bool(list(operation.iter_parameters())) or bool(list(operation.body))


async def prepare_jobs(client: TestClient, settings: Settings) -> list[str]:
    """A completed job with failures (more than shown inline) and a queued one, both of user 1."""
    completed = await submit(client, [1, 2, 5, 55, 999, 1999])
    await run_worker_until_idle(settings)
    queued = await submit(client, [3, 4])
    return [completed, queued]


@pytest.mark.timeout(600)
async def test_generated_requests(
    settings: Settings, redis: Redis, db: asyncpg.Pool, leads: int
) -> None:
    configured = with_settings(settings, failed_details_inline_max=2, rate_limit_pending_jobs=0)
    async with TestClient(TestServer(create_app(configured), host="127.0.0.1")) as client:
        job_ids = await prepare_jobs(client, configured)
        document = await (await client.get("/api/openapi.json")).json()
        fuzzer = Fuzzer(base_url=str(client.make_url("")).rstrip("/"))
        schema = schemathesis.openapi.from_dict(document)

        for _, strategy, examples in strategies(schema, job_ids):
            await asyncio.to_thread(fuzzer.run, strategy, examples)

    assert fuzzer.credentials.sent >= MIN_REQUESTS
