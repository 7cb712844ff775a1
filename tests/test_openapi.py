"""The OpenAPI document: valid 3.1, public, complete, and matching the bodies the API sends."""

from typing import Any

import asyncpg
import jsonschema_rs
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

from api_service.app import create_app
from api_service.openapi import RESPONSE_MODELS, build_document
from shared import models
from shared.settings import Settings
from tests.api_helpers import (
    SUBMIT_URL,
    SYNC_URL,
    api_client,
    run_worker_until_idle,
    submit,
    with_settings,
)
from tests.conftest import auth

METHODS = ("get", "post", "delete", "put", "patch")
OPERATIONS_PATHS = {"/healthz", "/readyz", "/metrics", "/api/openapi.json"}


@pytest.fixture
async def document(client: TestClient) -> dict[str, Any]:
    response = await client.get("/api/openapi.json")
    assert response.status == 200
    return await response.json()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, item[method])
        for path, item in document["paths"].items()
        for method in METHODS
        if method in item
    ]


def api_operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, method, op in operations(document)
        if path.startswith("/api/crm")
    ]


def validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema_rs.Validator:
    """Validate against `schema`, resolving its references inside the document's components."""
    return jsonschema_rs.Draft202012Validator({**schema, "components": document["components"]})


def response_schema(
    document: dict[str, Any], path: str, method: str, status: int
) -> dict[str, Any]:
    return document["paths"][path][method]["responses"][str(status)]["content"]["application/json"][
        "schema"
    ]


def assert_matches(
    document: dict[str, Any], path: str, method: str, status: int, body: object
) -> None:
    errors = [
        error.message
        for error in validator(
            document, response_schema(document, path, method, status)
        ).iter_errors(body)
    ]
    assert errors == []


async def test_public_without_token(client: TestClient) -> None:
    response = await client.get("/api/openapi.json")
    body = await response.json()

    assert response.status == 200
    assert body["openapi"] == "3.1.0"


async def test_valid_openapi_31(document: dict[str, Any]) -> None:
    errors = [error.message for error in OPENAPI_31_VALIDATOR.iter_errors(document)]
    assert errors == []


async def test_schemas_valid_json_schema(document: dict[str, Any]) -> None:
    invalid = [
        name
        for name, schema in document["components"]["schemas"].items()
        if not jsonschema_rs.meta.is_valid(schema)
    ]
    assert invalid == []


async def test_every_route_documented(settings: Settings, document: dict[str, Any]) -> None:
    app = create_app(settings)
    routed = {
        (route.resource.canonical, route.method.lower())
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    documented = {(path, method) for path, method, _ in operations(document)}

    assert routed == documented


async def test_every_route_under_prefix(settings: Settings) -> None:
    app = create_app(with_settings(settings, api_prefix="/paqueteriacz"))
    paths = {
        route.resource.canonical for route in app.router.routes() if route.resource is not None
    }
    documented = {path for path, _, _ in operations(create_document(settings, "/paqueteriacz"))}

    assert {f"/paqueteriacz{path}" for path in documented} <= paths


def create_document(settings: Settings, prefix: str) -> dict[str, Any]:
    return build_document(with_settings(settings, api_prefix=prefix))


async def test_prefix_server_url(settings: Settings) -> None:
    assert create_document(settings, "/paqueteriacz/")["servers"] == [{"url": "/paqueteriacz"}]


async def test_api_operations_need_token(document: dict[str, Any]) -> None:
    unprotected = [
        f"{method} {path}"
        for path, method, op in api_operations(document)
        if op["security"] != [{"bearerAuth": []}]
    ]
    assert unprotected == []


async def test_operations_endpoints_public(document: dict[str, Any]) -> None:
    protected = [
        path
        for path, _, op in operations(document)
        if path in OPERATIONS_PATHS and op["security"] != []
    ]
    assert protected == []


@pytest.mark.parametrize("status", ["401", "403", "500", "503"])
async def test_api_errors_documented(document: dict[str, Any], status: str) -> None:
    missing = [
        f"{method} {path}"
        for path, method, op in api_operations(document)
        if status not in op["responses"]
    ]
    assert missing == []


async def test_auth_challenge_header(document: dict[str, Any]) -> None:
    headers = {
        op["responses"]["401"]["headers"]["WWW-Authenticate"]["$ref"]
        for _, _, op in api_operations(document)
    }
    assert headers == {"#/components/headers/WWWAuthenticate"}


async def test_language_header_everywhere(document: dict[str, Any]) -> None:
    refs = [
        {param.get("$ref") for param in op["parameters"]} for _, _, op in api_operations(document)
    ]
    assert all("#/components/parameters/AcceptLanguage" in names for names in refs)


async def test_submit_headers(document: dict[str, Any]) -> None:
    submit_op = document["paths"][SUBMIT_URL]["post"]
    parameters = {param["$ref"] for param in submit_op["parameters"]}

    assert "#/components/parameters/IdempotencyKey" in parameters
    assert set(submit_op["responses"]["202"]["headers"]) == {
        "Location",
        "Retry-After",
        "Idempotent-Replayed",
    }
    assert set(submit_op["responses"]["429"]["headers"]) == {"Retry-After"}


@pytest.mark.parametrize("path", [SUBMIT_URL, SYNC_URL])
async def test_request_body_from_model(document: dict[str, Any], path: str) -> None:
    body = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    schema = document["components"]["schemas"]["BulkStatusRequest"]

    assert body == {"$ref": "#/components/schemas/BulkStatusRequest"}
    assert schema == models.BulkStatusRequest.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )


@pytest.mark.parametrize("model", RESPONSE_MODELS, ids=lambda model: model.__name__)
async def test_response_schema_from_model(document: dict[str, Any], model: type) -> None:
    schema = document["components"]["schemas"][model.__name__]
    assert set(schema["properties"]) == set(model.model_fields)


async def test_error_examples_valid(document: dict[str, Any]) -> None:
    invalid = []
    for path, method, op in operations(document):
        for status, response in op["responses"].items():
            content = response.get("content", {}).get("application/json", {})
            if "example" in content and not validator(document, content["schema"]).is_valid(
                content["example"]
            ):
                invalid.append(f"{method} {path} {status}")
    assert invalid == []


@pytest.fixture
async def finished_job(
    settings: Settings, redis: Redis, db: asyncpg.Pool, leads: int
) -> tuple[Settings, str]:
    """A completed job with two failures (lead 5 of another client, 999 missing), one inline."""
    limited = with_settings(settings, failed_details_inline_max=1)
    async with api_client(limited) as client:
        job_id = await submit(client, [1, 2, 5, 999])
    await run_worker_until_idle(limited)
    return limited, job_id


async def test_job_bodies_match(
    finished_job: tuple[Settings, str], document: dict[str, Any]
) -> None:
    settings, job_id = finished_job
    async with api_client(settings) as client:
        job = await (await client.get(f"/api/crm/jobs/{job_id}", headers=auth(1))).json()
        listing = await (await client.get("/api/crm/jobs", headers=auth(1))).json()
        failures = await (
            await client.get(f"/api/crm/jobs/{job_id}/failures", headers=auth(1))
        ).json()
        conflict = await (await client.delete(f"/api/crm/jobs/{job_id}", headers=auth(1))).json()

    assert job["failed_details_truncated"] is True
    assert_matches(document, "/api/crm/jobs/{job_id}", "get", 200, job)
    assert_matches(document, "/api/crm/jobs", "get", 200, listing)
    assert_matches(document, "/api/crm/jobs/{job_id}/failures", "get", 200, failures)
    assert_matches(document, "/api/crm/jobs/{job_id}", "delete", 409, conflict)


async def test_submit_bodies_match(
    client: TestClient, document: dict[str, Any], leads: int
) -> None:
    accepted = await client.post(
        SUBMIT_URL, json={"lead_ids": [1, 5, 5, 999], "estado": "aprobado"}, headers=auth(1)
    )
    rejected = await client.post(
        SUBMIT_URL, json={"lead_ids": [1], "estado": "VENDIDO"}, headers=auth(1)
    )
    cancelled = await client.delete((await accepted.json())["check_status_url"], headers=auth(1))

    assert_matches(document, SUBMIT_URL, "post", 202, await accepted.json())
    assert_matches(document, SUBMIT_URL, "post", 400, await rejected.json())
    assert_matches(document, "/api/crm/jobs/{job_id}", "delete", 200, await cancelled.json())


@pytest.mark.parametrize(("lead_ids", "status"), [([1, 2], 200), ([1, 5], 207), ([5, 999], 400)])
async def test_sync_bodies_match(
    client: TestClient, document: dict[str, Any], leads: int, lead_ids: list[int], status: int
) -> None:
    response = await client.post(
        SYNC_URL, json={"lead_ids": lead_ids, "estado": "aprobado"}, headers=auth(1)
    )

    assert response.status == status
    assert_matches(document, SYNC_URL, "post", status, await response.json())


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/api/crm/jobs", {}, 401),
        ("/api/crm/jobs/bulk_0123456789abcdef_1", auth(1), 404),
        ("/api/crm/jobs?limit=0", auth(1), 400),
        ("/healthz", {}, 200),
        ("/readyz", {}, 200),
    ],
    ids=["unauthorized", "not_found", "bad_query", "healthz", "readyz"],
)
async def test_other_bodies_match(
    client: TestClient, document: dict[str, Any], path: str, headers: dict[str, str], status: int
) -> None:
    response = await client.get(path, headers=headers)

    assert response.status == status
    assert_matches(
        document,
        path.split("?")[0].replace("bulk_0123456789abcdef_1", "{job_id}"),
        "get",
        status,
        await response.json(),
    )
