"""Every row of the contract's error table, in Spanish and English: status, code, message, fields.

A row's message is either the exact text or, where the text states a limit or lists values, a
pattern that the text must match. Rows after the contract's table cover the errors that aiohttp
itself raises (unknown route, wrong method) and an unreachable Redis.
"""

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from api_service.app import create_app
from shared.settings import Settings
from shared.states import CANONICAL_STATES
from tests.api_helpers import SUBMIT_URL, SYNC_URL, closed_port, submit, with_settings
from tests.conftest import auth

Send = Callable[[TestClient, dict[str, str]], Awaitable[ClientResponse]]
Text = str | re.Pattern[str]

JOBS_URL = "/api/crm/jobs"
UNKNOWN_JOB = f"{JOBS_URL}/bulk_0123456789abcdef_1700000000"
SECRET_DETAIL = "connection string postgresql://admin:hunter2@db"


def post_json(url: str, body: object, user_id: int = 1, **extra: str) -> Send:
    async def send(client: TestClient, headers: dict[str, str]) -> ClientResponse:
        return await client.post(url, json=body, headers={**auth(user_id), **headers, **extra})

    return send


def post_raw(url: str, data: bytes) -> Send:
    async def send(client: TestClient, headers: dict[str, str]) -> ClientResponse:
        return await client.post(
            url, data=data, headers={**auth(1), **headers, "Content-Type": "application/json"}
        )

    return send


def get(url: str, auth_headers: dict[str, str] | None = None) -> Send:
    async def send(client: TestClient, headers: dict[str, str]) -> ClientResponse:
        return await client.get(
            url, headers={**(auth(1) if auth_headers is None else auth_headers), **headers}
        )

    return send


async def cancel_twice(client: TestClient, headers: dict[str, str]) -> ClientResponse:
    job_id = await submit(client, [1, 2, 3])
    await client.delete(f"{JOBS_URL}/{job_id}", headers=auth(1))
    return await client.delete(f"{JOBS_URL}/{job_id}", headers={**auth(1), **headers})


async def reuse_idempotency_key(client: TestClient, headers: dict[str, str]) -> ClientResponse:
    key = {"Idempotency-Key": "order-2026-01-02"}
    first = await client.post(
        SUBMIT_URL, json={"lead_ids": [1, 2], "estado": "aprobado"}, headers={**auth(1), **key}
    )
    assert first.status == 202
    body = {"lead_ids": [3, 4], "estado": "aprobado"}
    return await client.post(SUBMIT_URL, json=body, headers={**auth(1), **headers, **key})


async def exceed_pending_jobs(client: TestClient, headers: dict[str, str]) -> ClientResponse:
    await submit(client, [1, 2])
    body = {"lead_ids": [3, 4], "estado": "aprobado"}
    return await client.post(SUBMIT_URL, json=body, headers={**auth(1), **headers})


async def put_jobs(client: TestClient, headers: dict[str, str]) -> ClientResponse:
    return await client.put(JOBS_URL, headers={**auth(1), **headers})


async def failing_handler(request: web.Request) -> web.Response:
    raise RuntimeError(SECRET_DETAIL)


def add_failing_route(app: web.Application) -> None:
    app.router.add_get("/api/crm/failing", failing_handler)


@dataclass(frozen=True)
class Row:
    status: int
    error: str
    es: Text
    en: Text
    send: Send
    fields: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, Text] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    app_hook: Callable[[web.Application], None] | None = None
    # Fields whose value the header carries too: field name -> header name.
    header_fields: dict[str, str] = field(default_factory=dict)


ROWS: dict[str, Row] = {
    "token_required": Row(
        401,
        "token_required",
        "Token requerido",
        "Token required",
        get(JOBS_URL, {}),
        headers={"WWW-Authenticate": "Bearer"},
    ),
    "invalid_token": Row(
        401,
        "invalid_token",
        "Token inválido o expirado",
        "Invalid or expired token",
        get(JOBS_URL, {"Authorization": "Bearer not.a.token"}),
        headers={"WWW-Authenticate": re.compile(r"^Bearer")},
    ),
    "forbidden": Row(
        403,
        "forbidden",
        "Acceso denegado: solo clientes o administradores",
        "Access denied: clients or administrators only",
        get(JOBS_URL, auth(1, ["proveedor"])),
    ),
    "invalid_json": Row(
        400,
        "invalid_json",
        "El cuerpo debe ser un objeto JSON válido",
        "The body must be a valid JSON object",
        post_raw(SUBMIT_URL, b'{"lead_ids": [1,'),
    ),
    "invalid_json_array": Row(
        400,
        "invalid_json",
        "El cuerpo debe ser un objeto JSON válido",
        "The body must be a valid JSON object",
        post_raw(SUBMIT_URL, b"[1, 2, 3]"),
    ),
    "missing_fields": Row(
        400,
        "missing_fields",
        "Campos requeridos: lead_ids (array), estado (string)",
        "Required fields: lead_ids (array), estado (string)",
        post_json(SUBMIT_URL, {"lead_ids": [1]}),
    ),
    "lead_ids_not_array": Row(
        400,
        "invalid_lead_ids",
        "lead_ids debe ser un array",
        "lead_ids must be an array",
        post_json(SUBMIT_URL, {"lead_ids": "1,2", "estado": "aprobado"}),
    ),
    "lead_ids_empty": Row(
        400,
        "invalid_lead_ids",
        "lead_ids no puede estar vacío",
        "lead_ids cannot be empty",
        post_json(SUBMIT_URL, {"lead_ids": [], "estado": "aprobado"}),
    ),
    "lead_ids_invalid": Row(
        400,
        "invalid_lead_ids",
        re.compile(r"^lead_ids contiene valores inválidos: .*1.*x.*2.*-3"),
        re.compile(r"^lead_ids contains invalid values: .*1.*x.*2.*-3"),
        post_json(SUBMIT_URL, {"lead_ids": [7, "x", -3], "estado": "aprobado"}),
    ),
    "invalid_estado": Row(
        400,
        "invalid_estado",
        "Estado inválido: VENDIDO",
        "Invalid status: VENDIDO",
        post_json(SUBMIT_URL, {"lead_ids": [1], "estado": "VENDIDO"}),
        fields={"estados_validos": list(CANONICAL_STATES)},
    ),
    "too_many_leads": Row(
        400,
        "too_many_leads",
        "Límite máximo de 100 leads por request",
        "At most 100 leads per request",
        post_json(SYNC_URL, {"lead_ids": list(range(1, 102)), "estado": "aprobado"}),
        fields={"received": 101},
    ),
    "payload_too_large_body": Row(
        413,
        "payload_too_large",
        re.compile(r"\b1024\b"),
        re.compile(r"\b1024\b"),
        post_json(SUBMIT_URL, {"lead_ids": list(range(1, 400)), "estado": "aprobado"}),
        settings={"max_body_bytes": 1024},
    ),
    "payload_too_large_ids": Row(
        413,
        "payload_too_large",
        re.compile(r"\b5\b"),
        re.compile(r"\b5\b"),
        post_json(SUBMIT_URL, {"lead_ids": [1, 2, 3, 4, 6, 7], "estado": "aprobado"}),
        settings={"max_leads_per_job": 5},
    ),
    "job_not_found": Row(
        404,
        "job_not_found",
        "Job no encontrado o no tienes permiso para verlo",
        "Job not found or not yours",
        get(UNKNOWN_JOB),
    ),
    "job_finished": Row(
        409,
        "job_finished",
        "No se puede cancelar un job finalizado (estado: cancelled)",
        "A finished job cannot be cancelled (status: cancelled)",
        cancel_twice,
        fields={"status": "cancelled"},
    ),
    "idempotency_key_reused": Row(
        422,
        "idempotency_key_reused",
        re.compile("Idempotency-Key"),
        re.compile("Idempotency-Key"),
        reuse_idempotency_key,
    ),
    "rate_limit_exceeded": Row(
        429,
        "rate_limit_exceeded",
        re.compile(r"\d"),
        re.compile(r"\d"),
        exceed_pending_jobs,
        headers={"Retry-After": re.compile(r"^[0-9]+$")},
        settings={"rate_limit_pending_jobs": 1},
        header_fields={"retry_after": "Retry-After"},
    ),
    "internal_error": Row(
        500,
        "internal_error",
        "Error interno del servidor",
        "Internal server error",
        get("/api/crm/failing"),
        app_hook=add_failing_route,
    ),
    "not_found": Row(
        404, "not_found", "Ruta no encontrada", "Route not found", get("/api/crm/nowhere")
    ),
    "method_not_allowed": Row(
        405,
        "method_not_allowed",
        "Método no permitido: PUT; se permite GET, HEAD",
        "Method not allowed: PUT; allowed: GET, HEAD",
        put_jobs,
        fields={"allowed_methods": ["GET", "HEAD"]},
        headers={"Allow": "GET, HEAD"},
    ),
    "service_unavailable": Row(
        503,
        "service_unavailable",
        "Servicio no disponible temporalmente; reintenta en 5 segundos",
        "Service temporarily unavailable; retry in 5 seconds",
        get(JOBS_URL),
        fields={"retry_after": 5},
        headers={"Retry-After": "5"},
        settings={"redis_url": "closed"},
        header_fields={"retry_after": "Retry-After"},
    ),
}

# Rows expected to fail, with the reason: none while every row of the table is implemented.
PENDING_ROWS: dict[str, str] = {}


def matches(expected: Text, actual: str) -> bool:
    if isinstance(expected, re.Pattern):
        return expected.search(actual) is not None
    return expected == actual


@asynccontextmanager
async def row_client(settings: Settings, row: Row) -> AsyncIterator[TestClient]:
    changes = dict(row.settings)
    if changes.get("redis_url") == "closed":
        changes["redis_url"] = f"redis://127.0.0.1:{closed_port()}/9"
    app = create_app(with_settings(settings, **changes))
    if row.app_hook is not None:
        row.app_hook(app)
    async with TestClient(TestServer(app)) as client:
        yield client


def table_cases() -> list[Any]:
    cases = []
    for name in ROWS:
        marks = (
            [pytest.mark.xfail(strict=False, reason=PENDING_ROWS[name])]
            if name in PENDING_ROWS
            else []
        )
        for language in ("es", "en"):
            cases.append(pytest.param(name, language, id=f"{name}-{language}", marks=marks))
    return cases


async def answer(
    settings: Settings, row: Row, language: str
) -> tuple[ClientResponse, dict[str, Any], str]:
    headers = {"Accept-Language": "en"} if language == "en" else {}
    async with row_client(settings, row) as client:
        response = await row.send(client, headers)
        text = await response.text()
        body = await response.json()
    return response, body, text


@pytest.mark.parametrize(("name", "language"), table_cases())
async def test_error_row(
    settings: Settings, redis: Redis, db: asyncpg.Pool, name: str, language: str
) -> None:
    row = ROWS[name]
    response, body, text = await answer(settings, row, language)

    assert response.status == row.status
    assert response.content_type == "application/json"
    assert body["success"] is False
    assert body["error"] == row.error
    assert matches(row.es if language == "es" else row.en, body["message"]), body["message"]
    assert {key: body.get(key) for key in row.fields} == row.fields
    assert [
        key
        for key, value in row.headers.items()
        if not matches(value, response.headers.get(key, ""))
    ] == []
    assert {name: str(body.get(name)) for name in row.header_fields} == {
        name: response.headers.get(header) for name, header in row.header_fields.items()
    }
    assert SECRET_DETAIL not in text


@pytest.mark.parametrize(
    ("accept_language", "expected"),
    [
        ("en-US", "Token required"),
        ("es;q=0.5, en;q=0.9", "Token required"),
        ("en-GB,en;q=0.8", "Token required"),
        ("fr, en;q=0.1", "Token required"),
        ("es-MX", "Token requerido"),
        ("en;q=0.4, es;q=0.6", "Token requerido"),
        ("de", "Token requerido"),
        ("en;q=0", "Token requerido"),
        ("", "Token requerido"),
    ],
)
async def test_language_choice(client: TestClient, accept_language: str, expected: str) -> None:
    response = await client.get(JOBS_URL, headers={"Accept-Language": accept_language})
    body = await response.json()

    assert body["message"] == expected
